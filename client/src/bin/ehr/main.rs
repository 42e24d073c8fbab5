//! ehr: the command-line client of ehr-ledger — keys, every transaction, and
//! the queries — against a CometBFT node's RPC or `ehr-node dev`.
//!
//! Where an address or a public key is asked for, the name of a local key
//! works too (`--patient alice`).

mod clinical;
mod read;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ehr_client::keyring::Keyring;
use ehr_client::rpc::{BroadcastTxCommit, RpcClient};
use ehr_ledger::crypto::{Address, PublicKey, SecretKey};
use ehr_ledger::proto::{action::Kind, governance_change, *};
use ehr_ledger::tx::sign_tx;
use ehr_ledger::Code;
use prost::Message;

#[derive(Parser)]
#[command(
    name = "ehr",
    version,
    about = "Client of the ehr-ledger chain: keys, transactions, queries"
)]
struct Cli {
    /// Folder of the local keys.
    #[arg(long, global = true, env = "EHR_HOME")]
    home: Option<PathBuf>,
    /// RPC address of a CometBFT node or of `ehr-node dev`.
    #[arg(
        long,
        global = true,
        env = "EHR_NODE",
        default_value = "http://127.0.0.1:26657"
    )]
    node: String,
    /// The record gateway (for fetch and rewrap).
    #[arg(
        long,
        global = true,
        env = "EHR_GATEWAY",
        default_value = "http://127.0.0.1:8080"
    )]
    gateway: String,
    /// The consortium's genesis file: the trust root for checking block
    /// headers by the validators' signatures (default: genesis.json in the
    /// key folder, when there).
    #[arg(long, global = true, env = "EHR_GENESIS")]
    genesis: Option<PathBuf>,
    /// Print JSON instead of sentences.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, import and list local keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The chain's id, height and app hash.
    Status,
    /// Sign and send a transaction, and wait for its block.
    Tx(TxArgs),
    /// Read the chain's state.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Fetch a patient's records from the gateway, decrypt them here and
    /// verify each against the chain.
    Fetch(read::FetchArgs),
    /// (patient or guardian) Wrap past records' keys for a new reader.
    Rewrap(read::RewrapArgs),
    /// A patient's audit trail: who read what, when and why.
    Audit(read::AuditArgs),
    /// A patient's orders or prescriptions from the gateway, decrypted here
    /// and checked against their anchors on chain.
    Documents(clinical::DocumentsArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new key.
    Generate { name: String },
    /// Import a secret key (64 hex digits) from a file, or from standard input with `-`.
    Import { name: String, file: PathBuf },
    /// Every local key with its address.
    List,
    /// A key's address and public key.
    Show { name: String },
}

#[derive(Args)]
struct TxArgs {
    /// The local key that signs.
    #[arg(long)]
    from: String,
    /// Return after CheckTx without waiting for the block.
    #[arg(long = "no-wait")]
    no_wait: bool,
    #[command(subcommand)]
    action: TxCommand,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Doctor,
    Nurse,
    Pharmacist,
    LabTechnician,
    Admin,
}

#[derive(Clone, Copy, ValueEnum)]
enum ServiceArg {
    Ingest,
    Gateway,
}

#[derive(Clone, Copy, ValueEnum)]
enum CategoryArg {
    Vitals,
    Labs,
    Medications,
    Notes,
    Imaging,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum AccessArg {
    Read,
    Write,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReasonArg {
    Unconscious,
    LifeThreatening,
    UnableToConsent,
    Other,
}

#[derive(Clone, Copy, ValueEnum)]
enum PurposeArg {
    Treatment,
    Emergency,
    PatientRequest,
    Payment,
    Operations,
}

#[derive(Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
enum VoteArg {
    Approve,
    Reject,
}

#[derive(Args)]
struct GranteeArgs {
    /// A clinician (address or key name).
    #[arg(long, conflicts_with = "org", required_unless_present = "org")]
    clinician: Option<String>,
    /// Every clinician of a member organisation.
    #[arg(long)]
    org: Option<String>,
}

#[derive(Args)]
struct RecordArgs {
    #[arg(long)]
    record_id: String,
    #[arg(long)]
    patient: String,
    #[arg(long, value_enum)]
    category: CategoryArg,
    /// SHA-256 of the ciphertext, hex.
    #[arg(long)]
    sha256: String,
    #[arg(long)]
    size: u64,
    #[arg(long)]
    locator: String,
}

/// Content already encrypted and stored by the author's own system: the
/// transaction anchors its hash as it is.
#[derive(Args)]
struct StoredContent {
    /// The record id it is stored under.
    #[arg(long, requires_all = ["stored_sha256", "stored_size", "stored_locator"])]
    stored_id: Option<String>,
    /// SHA-256 of its ciphertext, hex.
    #[arg(long)]
    stored_sha256: Option<String>,
    #[arg(long)]
    stored_size: Option<u64>,
    /// Where it is kept.
    #[arg(long)]
    stored_locator: Option<String>,
}

#[derive(Subcommand)]
enum TxCommand {
    /// (admin) Enroll patients' keys: after checking who each patient is, a
    /// member hospital lets those keys register.
    EnrollPatient {
        /// A patient's public key (66 hex digits) or local key name; repeat
        /// for several (at most 500).
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
    },
    /// Register the signer as a patient (once a member enrolled the key).
    RegisterPatient {
        #[arg(long)]
        guardian: Option<String>,
    },
    /// Set or (without --guardian) remove a patient's guardian.
    SetGuardian {
        #[arg(long)]
        patient: String,
        #[arg(long)]
        guardian: Option<String>,
    },
    /// (admin) Register staff of the signer's organisation.
    RegisterStaff {
        #[arg(long)]
        key: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// (admin) Register a service of the signer's organisation.
    RegisterService {
        #[arg(long)]
        key: String,
        #[arg(long, value_enum)]
        kind: ServiceArg,
    },
    /// (admin) Suspend staff or a service.
    Suspend { address: String },
    /// (admin) Reinstate staff or a service.
    Reinstate { address: String },
    /// Bind a device to a patient.
    BindDevice {
        #[arg(long)]
        device_id: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        patient: String,
    },
    /// Revoke a device.
    RevokeDevice { device_id: String },
    /// Grant access to categories of a patient's records.
    Grant {
        #[arg(long)]
        patient: String,
        #[command(flatten)]
        grantee: GranteeArgs,
        #[arg(long = "category", value_enum, required = true)]
        categories: Vec<CategoryArg>,
        #[arg(long, value_enum, default_value = "read")]
        access: AccessArg,
        /// How long, e.g. 30d, 12h, 90m.
        #[arg(long, default_value = "30d")]
        expires_in: String,
    },
    /// Revoke access (every category without --category).
    Revoke {
        #[arg(long)]
        patient: String,
        #[command(flatten)]
        grantee: GranteeArgs,
        #[arg(long = "category", value_enum)]
        categories: Vec<CategoryArg>,
    },
    /// Turn research consent on or off.
    ResearchConsent {
        #[arg(long)]
        patient: String,
        #[arg(value_enum)]
        consent: OnOff,
    },
    /// (doctor) Break-glass access to a patient's records.
    Emergency {
        #[arg(long)]
        patient: String,
        #[arg(long, value_enum)]
        reason: ReasonArg,
        #[arg(long)]
        justification: String,
    },
    /// (doctor) Order a lab test. The test is clinical content: it is
    /// encrypted here and stored with the gateway (--test), or already stored
    /// encrypted elsewhere (--stored-*); only its hash goes on chain.
    OrderLab {
        #[arg(long)]
        patient: String,
        /// LOINC code
        #[arg(long, required_unless_present = "stored_id")]
        test: Option<String>,
        #[arg(long)]
        lab: String,
        #[command(flatten)]
        stored: StoredContent,
    },
    /// (lab technician) Post the result of an open order.
    PostLabResult {
        #[arg(long)]
        order: u64,
        #[command(flatten)]
        record: RecordArgs,
    },
    /// (doctor) Prescribe. The drug, dose and quantity are clinical content:
    /// encrypted here and stored with the gateway (--drug …), or already
    /// stored encrypted elsewhere (--stored-*); only the hash goes on chain.
    Prescribe {
        #[arg(long)]
        patient: String,
        /// RxNorm code.
        #[arg(long, required_unless_present = "stored_id")]
        drug: Option<String>,
        /// Dose amount, up to three decimals.
        #[arg(long, required_unless_present = "stored_id")]
        dose: Option<String>,
        /// UCUM unit, e.g. mg.
        #[arg(long, required_unless_present = "stored_id")]
        unit: Option<String>,
        #[arg(long, required_unless_present = "stored_id")]
        quantity: Option<u32>,
        #[arg(long, default_value_t = 0)]
        refills: u32,
        #[arg(long, default_value = "90d")]
        valid_for: String,
        #[command(flatten)]
        stored: StoredContent,
    },
    /// (pharmacist) Dispense a prescription.
    Dispense { prescription: u64 },
    /// Anchor a record.
    AnchorRecord {
        #[command(flatten)]
        record: RecordArgs,
    },
    /// (ingest service) Anchor a batch's Merkle root.
    AnchorBatch {
        #[arg(long)]
        batch_id: u64,
        #[arg(long)]
        root: String,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        first: u64,
        #[arg(long)]
        last: u64,
    },
    /// (gateway service) Log a disclosure.
    LogDisclosure {
        #[arg(long)]
        accessor: String,
        #[arg(long)]
        patient: String,
        #[arg(long, value_enum)]
        category: CategoryArg,
        #[arg(long = "record", required = true)]
        records: Vec<String>,
        #[arg(long, value_enum, default_value = "treatment")]
        purpose: PurposeArg,
    },
    /// (admin) Propose a consortium change.
    #[command(subcommand)]
    Propose(ProposeCommand),
    /// (admin) Vote on a proposal.
    Vote {
        proposal: u64,
        #[arg(value_enum)]
        vote: VoteArg,
    },
}

#[derive(Subcommand)]
enum ProposeCommand {
    AddMember {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_key: String,
    },
    RemoveMember {
        #[arg(long)]
        org: String,
    },
    /// The key as in priv_validator_key.json (base64) or hex.
    AddValidator {
        #[arg(long)]
        key: String,
        #[arg(long)]
        power: i64,
        #[arg(long)]
        operator: String,
    },
    RemoveValidator {
        #[arg(long)]
        key: String,
    },
    SetValidatorPower {
        #[arg(long)]
        key: String,
        #[arg(long)]
        power: i64,
    },
}

#[derive(Subcommand)]
enum QueryCommand {
    Account {
        address: String,
    },
    Participant {
        address: String,
    },
    Organisations,
    Organisation {
        org: String,
    },
    Staff {
        org: String,
    },
    Devices {
        patient: String,
    },
    Device {
        id: String,
    },
    Grants {
        patient: String,
    },
    /// May ACCESSOR read (or --write) CATEGORY of PATIENT's records now?
    Access {
        patient: String,
        accessor: String,
        #[arg(value_enum)]
        category: CategoryArg,
        #[arg(long)]
        write: bool,
    },
    Orders {
        patient: String,
    },
    Order {
        id: u64,
    },
    Prescriptions {
        patient: String,
    },
    Prescription {
        id: u64,
    },
    /// Every disclosure of PATIENT's data and every emergency access.
    Audit {
        patient: String,
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
    Record {
        id: String,
    },
    Batch {
        service: String,
        id: u64,
    },
    Proposals,
    Proposal {
        id: u64,
    },
    Validators,
    /// A transaction's result by its hash.
    Tx {
        hash: String,
    },
}

type Result<T> = std::result::Result<T, String>;

struct Ctx {
    rpc: RpcClient,
    gateway: String,
    keys: Keyring,
    home: PathBuf,
    genesis: Option<PathBuf>,
    json: bool,
}

impl Ctx {
    fn address(&self, s: &str) -> Result<Address> {
        if let Ok(a) = s.parse::<Address>() {
            return Ok(a);
        }
        self.keys.load(s).map(|k| k.address()).map_err(|_| {
            format!("{s:?} is neither an address (ehr1… or 40 hex digits) nor a local key name")
        })
    }

    fn addr(&self, s: &str) -> Result<Vec<u8>> {
        Ok(self.address(s)?.0.to_vec())
    }

    /// A public key, or empty bytes when none is named.
    fn optional_public_key(&self, s: Option<&str>) -> Result<Vec<u8>> {
        s.map(|k| self.public_key(k))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    fn public_key(&self, s: &str) -> Result<Vec<u8>> {
        if let Some(k) = hex::decode(s).ok().and_then(|b| PublicKey::from_bytes(&b)) {
            return Ok(k.to_bytes().to_vec());
        }
        self.keys
            .load(s)
            .map(|k| k.public_key().to_bytes().to_vec())
            .map_err(|_| {
                format!("{s:?} is neither a public key (66 hex digits) nor a local key name")
            })
    }
}

fn category(c: CategoryArg) -> i32 {
    (match c {
        CategoryArg::Vitals => Category::Vitals,
        CategoryArg::Labs => Category::Labs,
        CategoryArg::Medications => Category::Medications,
        CategoryArg::Notes => Category::Notes,
        CategoryArg::Imaging => Category::Imaging,
        CategoryArg::All => Category::All,
    }) as i32
}

fn category_path(c: CategoryArg) -> &'static str {
    match c {
        CategoryArg::Vitals => "vitals",
        CategoryArg::Labs => "labs",
        CategoryArg::Medications => "medications",
        CategoryArg::Notes => "notes",
        CategoryArg::Imaging => "imaging",
        CategoryArg::All => "all",
    }
}

/// "30d", "12h", "90m", "45s" → seconds.
fn duration_secs(s: &str) -> Result<i64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30d, 12h, 90m"))?;
    let mult = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => return Err(format!("{s:?} is not a duration such as 30d, 12h, 90m")),
    };
    Ok(n * mult)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// "500", "2.5", "0.125" → thousandths, without floating point.
fn milli(s: &str) -> Result<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || whole.is_empty() {
        return Err(format!(
            "{s:?} must be a number with at most three decimals"
        ));
    }
    let w: u64 = whole
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}")
            .parse()
            .map_err(|_| format!("{s:?} is not a number"))?
    };
    Ok(w * 1000 + f)
}

fn validator_key(s: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    if s.len() == 64 {
        if let Ok(b) = hex::decode(s) {
            return Ok(b);
        }
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| format!("{s:?} is neither base64 nor hex"))
}

fn grantee(ctx: &Ctx, g: &GranteeArgs) -> Result<Option<Grantee>> {
    Ok(Some(Grantee {
        kind: Some(match (&g.clinician, &g.org) {
            (Some(c), _) => grantee::Kind::Clinician(ctx.addr(c)?),
            (None, Some(o)) => grantee::Kind::Organisation(o.clone()),
            (None, None) => return Err("name --clinician or --org".into()),
        }),
    }))
}

fn record(ctx: &Ctx, r: &RecordArgs) -> Result<RecordRef> {
    Ok(RecordRef {
        record_id: r.record_id.clone(),
        patient: ctx.addr(&r.patient)?,
        category: category(r.category),
        ciphertext_sha256: hex::decode(&r.sha256).map_err(|_| "--sha256 must be hex")?,
        size: r.size,
        locator: r.locator.clone(),
    })
}

/// The clinical content of an order or prescription, sealed and stored with
/// the gateway before the transaction that anchors it; `None` for the others.
async fn document(ctx: &Ctx, author: &SecretKey, a: &TxCommand) -> Result<Option<RecordRef>> {
    use ehr_client::read_path::documents::Content;
    let (patient, stored, category) = match a {
        TxCommand::OrderLab {
            patient, stored, ..
        } => (patient, stored, CategoryArg::Labs),
        TxCommand::Prescribe {
            patient, stored, ..
        } => (patient, stored, CategoryArg::Medications),
        _ => return Ok(None),
    };
    if let Some(id) = &stored.stored_id {
        let described = match a {
            TxCommand::OrderLab { test, .. } => test.is_some(),
            TxCommand::Prescribe { drug, .. } => drug.is_some(),
            _ => false,
        };
        if described {
            return Err(
                "give the content (--test, --drug …) or where it is stored (--stored-*), not both"
                    .into(),
            );
        }
        let r = RecordArgs {
            record_id: id.clone(),
            patient: patient.clone(),
            category,
            sha256: stored.stored_sha256.clone().unwrap_or_default(),
            size: stored.stored_size.unwrap_or_default(),
            locator: stored.stored_locator.clone().unwrap_or_default(),
        };
        return record(ctx, &r).map(Some);
    }
    let content = match a {
        TxCommand::OrderLab {
            test: Some(test),
            lab,
            ..
        } => {
            ehr_ledger::tx::validate::loinc("test", test).map_err(|r| r.message)?;
            Content::LabOrder {
                test_code: test.clone(),
                lab_org: lab.clone(),
            }
        }
        TxCommand::Prescribe {
            drug: Some(drug),
            dose: Some(dose),
            unit: Some(unit),
            quantity: Some(quantity),
            refills,
            ..
        } => {
            if drug.is_empty() || drug.len() > 10 || !drug.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!(
                    "--drug {drug:?} is not an RxNorm code (1 to 10 digits)"
                ));
            }
            if milli(dose)? == 0 {
                return Err("--dose must be positive".into());
            }
            if *quantity == 0 {
                return Err("--quantity must be positive".into());
            }
            Content::Prescription {
                drug_code: drug.clone(),
                dose: dose.clone(),
                unit: unit.clone(),
                quantity: *quantity,
                refills: *refills,
            }
        }
        _ => {
            return Err(
                "say what is ordered or prescribed, or where it is stored (--stored-*)".into(),
            )
        }
    };
    let patient = ctx.address(patient)?;
    clinical::write(ctx, author, &patient, content)
        .await
        .map(Some)
}

fn action(ctx: &Ctx, a: &TxCommand, document: Option<RecordRef>) -> Result<Kind> {
    Ok(match a {
        TxCommand::EnrollPatient { keys } => Kind::EnrollPatient(EnrollPatient {
            public_keys: keys
                .iter()
                .map(|k| ctx.public_key(k))
                .collect::<Result<_>>()?,
        }),
        TxCommand::RegisterPatient { guardian } => Kind::RegisterPatient(RegisterPatient {
            guardian_public_key: ctx.optional_public_key(guardian.as_deref())?,
        }),
        TxCommand::SetGuardian { patient, guardian } => Kind::SetGuardian(SetGuardian {
            patient: ctx.addr(patient)?,
            guardian_public_key: ctx.optional_public_key(guardian.as_deref())?,
        }),
        TxCommand::RegisterStaff { key, role } => Kind::RegisterStaff(RegisterStaff {
            public_key: ctx.public_key(key)?,
            role: (match role {
                RoleArg::Doctor => Role::Doctor,
                RoleArg::Nurse => Role::Nurse,
                RoleArg::Pharmacist => Role::Pharmacist,
                RoleArg::LabTechnician => Role::LabTechnician,
                RoleArg::Admin => Role::Admin,
            }) as i32,
        }),
        TxCommand::RegisterService { key, kind } => Kind::RegisterService(RegisterService {
            public_key: ctx.public_key(key)?,
            kind: (match kind {
                ServiceArg::Ingest => ServiceKind::Ingest,
                ServiceArg::Gateway => ServiceKind::Gateway,
            }) as i32,
        }),
        TxCommand::Suspend { address } => Kind::Suspend(SuspendParticipant {
            address: ctx.addr(address)?,
        }),
        TxCommand::Reinstate { address } => Kind::Reinstate(ReinstateParticipant {
            address: ctx.addr(address)?,
        }),
        TxCommand::BindDevice {
            device_id,
            key,
            patient,
        } => Kind::BindDevice(BindDevice {
            device_id: device_id.clone(),
            public_key: ctx.public_key(key)?,
            patient: ctx.addr(patient)?,
        }),
        TxCommand::RevokeDevice { device_id } => Kind::RevokeDevice(RevokeDevice {
            device_id: device_id.clone(),
        }),
        TxCommand::Grant {
            patient,
            grantee: g,
            categories,
            access,
            expires_in,
        } => Kind::GrantAccess(GrantAccess {
            patient: ctx.addr(patient)?,
            grantee: grantee(ctx, g)?,
            categories: categories.iter().map(|c| category(*c)).collect(),
            access: (match access {
                AccessArg::Read => AccessLevel::Read,
                AccessArg::Write => AccessLevel::Write,
            }) as i32,
            expires_at: now() + duration_secs(expires_in)?,
        }),
        TxCommand::Revoke {
            patient,
            grantee: g,
            categories,
        } => Kind::RevokeAccess(RevokeAccess {
            patient: ctx.addr(patient)?,
            grantee: grantee(ctx, g)?,
            categories: categories.iter().map(|c| category(*c)).collect(),
        }),
        TxCommand::ResearchConsent { patient, consent } => {
            Kind::SetResearchConsent(SetResearchConsent {
                patient: ctx.addr(patient)?,
                consent: matches!(consent, OnOff::On),
            })
        }
        TxCommand::Emergency {
            patient,
            reason,
            justification,
        } => Kind::OpenEmergencyAccess(OpenEmergencyAccess {
            patient: ctx.addr(patient)?,
            reason: (match reason {
                ReasonArg::Unconscious => EmergencyReason::Unconscious,
                ReasonArg::LifeThreatening => EmergencyReason::LifeThreatening,
                ReasonArg::UnableToConsent => EmergencyReason::UnableToConsent,
                ReasonArg::Other => EmergencyReason::Other,
            }) as i32,
            justification: justification.clone(),
        }),
        TxCommand::OrderLab { patient, lab, .. } => Kind::OrderLabTest(OrderLabTest {
            patient: ctx.addr(patient)?,
            lab_org: lab.clone(),
            order: document,
        }),
        TxCommand::PostLabResult { order, record: r } => Kind::PostLabResult(PostLabResult {
            order_id: *order,
            record: Some(record(ctx, r)?),
        }),
        TxCommand::Prescribe {
            patient,
            refills,
            valid_for,
            ..
        } => Kind::Prescribe(Prescribe {
            patient: ctx.addr(patient)?,
            refills: *refills,
            valid_until: now() + duration_secs(valid_for)?,
            content: document,
        }),
        TxCommand::Dispense { prescription } => Kind::Dispense(Dispense {
            prescription_id: *prescription,
        }),
        TxCommand::AnchorRecord { record: r } => Kind::AnchorRecord(AnchorRecord {
            record: Some(record(ctx, r)?),
        }),
        TxCommand::AnchorBatch {
            batch_id,
            root,
            count,
            first,
            last,
        } => Kind::AnchorBatch(AnchorBatch {
            batch_id: *batch_id,
            merkle_root: hex::decode(root).map_err(|_| "--root must be hex")?,
            record_count: *count,
            first_record: *first,
            last_record: *last,
        }),
        TxCommand::LogDisclosure {
            accessor,
            patient,
            category: c,
            records,
            purpose,
        } => Kind::LogDisclosures(LogDisclosures {
            disclosures: vec![Disclosure {
                accessor: ctx.addr(accessor)?,
                patient: ctx.addr(patient)?,
                record_ids: records.clone(),
                purpose: (match purpose {
                    PurposeArg::Treatment => Purpose::Treatment,
                    PurposeArg::Emergency => Purpose::Emergency,
                    PurposeArg::PatientRequest => Purpose::PatientRequest,
                    PurposeArg::Payment => Purpose::Payment,
                    PurposeArg::Operations => Purpose::Operations,
                }) as i32,
                disclosed_at: now(),
                category: category(*c),
            }],
        }),
        TxCommand::Propose(p) => Kind::Propose(Propose {
            change: Some(GovernanceChange {
                kind: Some(match p {
                    ProposeCommand::AddMember {
                        org,
                        name,
                        admin_key,
                    } => governance_change::Kind::AddMember(AddMember {
                        org_id: org.clone(),
                        name: name.clone(),
                        admin_public_key: ctx.public_key(admin_key)?,
                    }),
                    ProposeCommand::RemoveMember { org } => {
                        governance_change::Kind::RemoveMember(RemoveMember {
                            org_id: org.clone(),
                        })
                    }
                    ProposeCommand::AddValidator {
                        key,
                        power,
                        operator,
                    } => governance_change::Kind::AddValidator(AddValidator {
                        pub_key: validator_key(key)?,
                        power: *power,
                        operator_org: operator.clone(),
                    }),
                    ProposeCommand::RemoveValidator { key } => {
                        governance_change::Kind::RemoveValidator(RemoveValidator {
                            pub_key: validator_key(key)?,
                        })
                    }
                    ProposeCommand::SetValidatorPower { key, power } => {
                        governance_change::Kind::SetValidatorPower(SetValidatorPower {
                            pub_key: validator_key(key)?,
                            power: *power,
                        })
                    }
                }),
            }),
        }),
        TxCommand::Vote { proposal, vote } => Kind::Vote(Vote {
            proposal_id: *proposal,
            approve: matches!(vote, VoteArg::Approve),
        }),
    })
}

/// "33 (WrongRole)", as the ledger's `Code` displays itself.
fn code_label(code: u32) -> String {
    Code::from_u32(code).map_or_else(|| format!("{code} (unknown)"), |c| c.to_string())
}

fn describe_result(r: &BroadcastTxCommit) -> String {
    let result = if r.check_tx.code != 0 {
        &r.check_tx
    } else {
        &r.tx_result
    };
    if result.code != 0 {
        let stage = if r.check_tx.code != 0 {
            "refused by the node's check"
        } else {
            "refused in its block"
        };
        return format!("{stage}: code {}: {}", code_label(result.code), result.log);
    }
    let ids: Vec<String> = result
        .events
        .iter()
        .filter(|e| e.kind != "tx")
        .flat_map(|e| {
            e.attributes
                .iter()
                .filter(|a| a.key.ends_with("id"))
                .map(|a| format!("{}={}", a.key, a.value))
        })
        .collect();
    let extra = if ids.is_empty() {
        String::new()
    } else {
        format!(" ({})", ids.join(", "))
    };
    format!("accepted in block {} (tx {}){extra}", r.height, r.hash)
}

async fn send(ctx: &Ctx, from: &str, no_wait: bool, a: &TxCommand) -> Result<bool> {
    let key: SecretKey = ctx.keys.load(from)?;
    let document = document(ctx, &key, a).await?;
    let kind = action(ctx, a, document)?;
    let status = ctx.rpc.status().await.map_err(|e| e.to_string())?;
    let nonce = ctx
        .rpc
        .next_nonce(&key.address())
        .await
        .map_err(|e| e.to_string())?;
    let tx = sign_tx(&key, &status.node_info.network, nonce, kind);
    if no_wait {
        let r = ctx
            .rpc
            .broadcast_tx_sync(&tx)
            .await
            .map_err(|e| e.to_string())?;
        if ctx.json {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        } else if r.code == 0 {
            println!("accepted into the mempool (tx {})", r.hash);
        } else {
            println!(
                "refused by the node's check: code {}: {}",
                code_label(r.code),
                r.log
            );
        }
        return Ok(r.code == 0);
    }
    let r = ctx
        .rpc
        .broadcast_tx_commit(&tx)
        .await
        .map_err(|e| e.to_string())?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        println!("{}", describe_result(&r));
    }
    Ok(r.check_tx.code == 0 && r.tx_result.code == 0)
}

async fn show<M: Message + Default + serde::Serialize>(ctx: &Ctx, path: &str) -> Result<bool> {
    match ctx.rpc.query::<M>(path).await.map_err(|e| e.to_string())? {
        Some(m) => {
            let json = if ctx.json {
                serde_json::to_string(&m)
            } else {
                serde_json::to_string_pretty(&m)
            };
            println!("{}", json.map_err(|e| e.to_string())?);
            Ok(true)
        }
        None => {
            eprintln!("nothing found at {path}");
            Ok(false)
        }
    }
}

async fn query(ctx: &Ctx, q: &QueryCommand) -> Result<bool> {
    use QueryCommand as Q;
    match q {
        Q::Account { address } => {
            show::<Account>(ctx, &format!("/account/{}", ctx.address(address)?)).await
        }
        Q::Participant { address } => {
            show::<Participant>(ctx, &format!("/participant/{}", ctx.address(address)?)).await
        }
        Q::Organisations => show::<OrganisationList>(ctx, "/organisations").await,
        Q::Organisation { org } => show::<Organisation>(ctx, &format!("/organisation/{org}")).await,
        Q::Staff { org } => show::<ParticipantList>(ctx, &format!("/staff/{org}")).await,
        Q::Devices { patient } => {
            show::<DeviceList>(ctx, &format!("/devices/{}", ctx.address(patient)?)).await
        }
        Q::Device { id } => show::<Device>(ctx, &format!("/device/{id}")).await,
        Q::Grants { patient } => {
            show::<GrantList>(ctx, &format!("/grants/{}", ctx.address(patient)?)).await
        }
        Q::Access {
            patient,
            accessor,
            category,
            write,
        } => {
            let path = format!(
                "/access/{}/{}/{}/{}",
                ctx.address(patient)?,
                ctx.address(accessor)?,
                category_path(*category),
                if *write { "write" } else { "read" }
            );
            let d: AccessDecision = ctx
                .rpc
                .query(&path)
                .await
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            if ctx.json {
                println!("{}", serde_json::to_string(&d).map_err(|e| e.to_string())?);
            } else if d.allowed {
                let basis = AccessBasis::try_from(d.basis).map_or("?", |b| b.as_str_name());
                let until = if d.until > 0 {
                    format!(" until {}", ehr_ledger::time::rfc3339(d.until))
                } else {
                    String::new()
                };
                println!("allowed ({basis}){until}");
            } else {
                println!("not allowed: {}", d.reason);
            }
            Ok(d.allowed)
        }
        Q::Orders { patient } => {
            show::<LabOrderList>(ctx, &format!("/orders/{}", ctx.address(patient)?)).await
        }
        Q::Order { id } => show::<LabOrder>(ctx, &format!("/order/{id}")).await,
        Q::Prescriptions { patient } => {
            show::<PrescriptionList>(ctx, &format!("/prescriptions/{}", ctx.address(patient)?))
                .await
        }
        Q::Prescription { id } => show::<Prescription>(ctx, &format!("/prescription/{id}")).await,
        Q::Audit { patient, from } => {
            read::audit(
                ctx,
                &read::AuditArgs {
                    patient: patient.clone(),
                    from: *from,
                    fhir: false,
                },
            )
            .await
        }
        Q::Record { id } => show::<StoredRecordAnchor>(ctx, &format!("/record/{id}")).await,
        Q::Batch { service, id } => {
            show::<StoredBatchAnchor>(ctx, &format!("/batch/{}/{id}", ctx.address(service)?)).await
        }
        Q::Proposals => show::<ProposalList>(ctx, "/proposals").await,
        Q::Proposal { id } => show::<Proposal>(ctx, &format!("/proposal/{id}")).await,
        Q::Validators => show::<ValidatorList>(ctx, "/validators").await,
        Q::Tx { hash } => {
            let bytes: [u8; 32] = hex::decode(hash)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or("the hash must be 64 hex digits")?;
            let info = ctx.rpc.tx(&bytes).await.map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&info).map_err(|e| e.to_string())?
            );
            Ok(info.tx_result.code == 0)
        }
    }
}

fn keys_command(ctx: &Ctx, k: &KeysCommand) -> Result<bool> {
    match k {
        KeysCommand::Generate { name } => {
            let key = SecretKey::generate();
            ctx.keys.save(name, &key)?;
            println!("{name}: {}", key.address());
        }
        KeysCommand::Import { name, file } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_line(&mut s)
                    .map_err(|e| e.to_string())?;
                s
            } else {
                std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?
            };
            let bytes =
                hex::decode(text.trim()).map_err(|_| "the secret key must be 64 hex digits")?;
            let key =
                SecretKey::from_bytes(&bytes).ok_or("that is not a valid secp256k1 secret key")?;
            ctx.keys.save(name, &key)?;
            println!("{name}: {}", key.address());
        }
        KeysCommand::List => {
            let keys = ctx.keys.list()?;
            if ctx.json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|(n, a, p)| serde_json::json!({"name": n, "address": a, "public_key": p}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for (name, address, _) in keys {
                    println!("{name}\t{address}");
                }
            }
        }
        KeysCommand::Show { name } => {
            let key = ctx.keys.load(name)?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"name": name, "address": key.address().to_string(), "public_key": hex::encode(key.public_key().to_bytes())})
                );
            } else {
                println!(
                    "name        {name}\naddress     {}\npublic key  {}",
                    key.address(),
                    hex::encode(key.public_key().to_bytes())
                );
            }
        }
    }
    Ok(true)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let home = cli.home.clone().unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".ehr")
    });
    let genesis = cli
        .genesis
        .clone()
        .or_else(|| Some(home.join("genesis.json")).filter(|p| p.is_file()));
    let ctx = Ctx {
        rpc: RpcClient::new(&cli.node),
        gateway: cli.gateway.clone(),
        keys: Keyring::new(&home),
        home,
        genesis,
        json: cli.json,
    };
    let outcome = match &cli.command {
        Command::Keys(k) => keys_command(&ctx, k),
        Command::Status => match ctx.rpc.status().await {
            Ok(s) => {
                if ctx.json {
                    println!("{}", serde_json::to_string(&s).unwrap_or_default());
                } else {
                    println!(
                        "chain {} at height {} ({}), app hash {}\nnode {}",
                        s.node_info.network,
                        s.sync_info.latest_block_height,
                        s.sync_info.latest_block_time,
                        s.sync_info.latest_app_hash,
                        s.node_info.version
                    );
                }
                Ok(true)
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Tx(t) => send(&ctx, &t.from, t.no_wait, &t.action).await,
        Command::Query(q) => query(&ctx, q).await,
        Command::Fetch(a) => read::fetch(&ctx, a).await,
        Command::Rewrap(a) => read::rewrap(&ctx, a).await,
        Command::Audit(a) => read::audit(&ctx, a).await,
        Command::Documents(a) => clinical::read(&ctx, a).await,
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("ehr: {message}");
            ExitCode::from(2)
        }
    }
}
