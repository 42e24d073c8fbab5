//! `ehr tx`: its arguments, one subcommand per action.

use clap::{Args, Subcommand};

use crate::args::*;

#[derive(Args)]
pub(crate) struct TxArgs {
    /// The local key that signs.
    #[arg(long)]
    pub(crate) from: String,
    /// Return after CheckTx without waiting for the block.
    #[arg(long = "no-wait")]
    pub(crate) no_wait: bool,
    #[command(subcommand)]
    pub(crate) action: TxCommand,
}

#[derive(Subcommand)]
pub(crate) enum TxCommand {
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
    /// Replace the signer's key by a new local key: from the block that
    /// takes it, the old key signs for nobody; grants, roles and the trail
    /// stay the signer's. A patient's past data keys are then re-wrapped for
    /// the new key here (the old one still opens them).
    RotateKey {
        /// The new key's local name (`ehr keys generate <name>`).
        #[arg(long, required_unless_present = "key")]
        new: Option<String>,
        /// (admin) The staff member or service whose key is replaced — a
        /// stolen laptop's, suspended first; they keep their grants.
        #[arg(long)]
        participant: Option<String>,
        /// The new public key (66 hex digits), as `ehr keys prove-binding`
        /// shows it on the machine that holds it; with --proof.
        #[arg(long, requires = "proof", conflicts_with = "new")]
        key: Option<String>,
        #[arg(long, requires = "key")]
        proof: Option<String>,
    },
    /// (patient or guardian) Name who may recover the patient's key when it
    /// is lost, and how many of them must approve; none removes them.
    SetRecoveryContacts {
        #[arg(long)]
        patient: String,
        /// A contact's address or local key name; repeat for several (at most 7).
        #[arg(long = "contact")]
        contacts: Vec<String>,
        #[arg(long, default_value_t = 0)]
        threshold: u32,
    },
    /// (a recovery contact, or an admin who checked the patient in person)
    /// Approve binding the patient's new key, as her new phone shows it
    /// (`ehr keys prove-binding`).
    ApproveRecovery {
        #[arg(long)]
        patient: String,
        /// The new public key (66 hex digits).
        #[arg(long)]
        key: String,
        /// The new key's proof of binding (128 hex digits).
        #[arg(long)]
        proof: String,
    },
    /// (patient or guardian) Ask the hospital whose staff wrote a record to
    /// amend it; the reason is sealed, only its hash reaches the chain.
    RequestAmendment {
        #[arg(long)]
        patient: String,
        /// The record's id (as `ehr documents` shows it).
        #[arg(long)]
        record: String,
        #[arg(long)]
        reason: String,
    },
    /// (the record's author, or a doctor or admin of their hospital) Accept
    /// an amendment: the corrected record, as its content in JSON (as the
    /// original's, e.g. {"kind":"lab_result",…}), supersedes the old one.
    AcceptAmendment {
        #[arg(long)]
        amendment: u64,
        #[arg(long)]
        content: String,
    },
    /// (the same) Deny an amendment on a ground the rule allows.
    DenyAmendment {
        #[arg(long)]
        amendment: u64,
        #[arg(long, value_enum)]
        reason: DenialArg,
        /// Why, in words for the patient (sealed).
        #[arg(long)]
        explanation: Option<String>,
    },
    /// (patient or guardian) Attach a statement of disagreement to a denied
    /// amendment (sealed).
    FileDisagreement {
        #[arg(long)]
        amendment: u64,
        #[arg(long)]
        statement: String,
    },
    /// Erase a patient's records — some by id, categories, or everything —
    /// off chain, in every service that keeps them; the anchors stay.
    Erase {
        #[arg(long)]
        patient: String,
        #[arg(long = "record")]
        records: Vec<String>,
        #[arg(long = "category", value_enum)]
        categories: Vec<CategoryArg>,
        #[arg(long)]
        everything: bool,
        #[arg(long, value_enum, default_value = "patient-request")]
        basis: ErasureArg,
        /// The legal reference (a court order's number): required with
        /// --basis legal-order; no health data.
        #[arg(long, default_value = "")]
        reference: String,
    },
    /// (admin) Hold a patient's records (all, or --category) from erasure
    /// until --for has passed; --for 0 releases your organisation's hold.
    LegalHold {
        #[arg(long)]
        patient: String,
        #[arg(long = "category", value_enum)]
        categories: Vec<CategoryArg>,
        /// How long, e.g. 365d; 0 releases.
        #[arg(long = "for")]
        duration: String,
        #[arg(long, value_enum, default_value = "litigation")]
        reason: HoldArg,
        #[arg(long, default_value = "")]
        reference: String,
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
    /// (the patient, their guardian, or an admin of the hospital that enrolled
    /// them) Seal who the patient is — name, birth date, each hospital's
    /// medical record number — for the patient, the guardian and everyone
    /// they let read their records; only its hash goes on chain. The newest
    /// one is the current one.
    Demographics {
        #[arg(long)]
        patient: String,
        /// A given name (repeat for each, in order).
        #[arg(long = "given")]
        given: Vec<String>,
        #[arg(long)]
        family: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        birth_date: Option<String>,
        /// male, female, other or unknown.
        #[arg(long)]
        gender: Option<String>,
        /// A hospital's medical record number: <organisation>=<number> (repeat).
        #[arg(long = "mrn")]
        mrns: Vec<String>,
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
pub(crate) enum ProposeCommand {
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
    /// A code for the directory; a measurement with its UCUM unit and
    /// plausible range.
    AddCode {
        #[arg(long, value_enum)]
        system: crate::codes::SystemArg,
        #[arg(long)]
        code: String,
        #[arg(long)]
        display: String,
        #[arg(long, requires_all = ["min", "max"])]
        unit: Option<String>,
        #[arg(long, allow_negative_numbers = true)]
        min: Option<f64>,
        #[arg(long, allow_negative_numbers = true)]
        max: Option<f64>,
    },
    /// Retire a code: refused for new records, still shown for old ones.
    RetireCode {
        #[arg(long, value_enum)]
        system: crate::codes::SystemArg,
        #[arg(long)]
        code: String,
        #[arg(long)]
        reason: String,
        /// An active code of the same system to use instead.
        #[arg(long)]
        replaced_by: Option<String>,
    },
}
