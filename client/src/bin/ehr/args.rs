//! The arguments several commands share, and how each becomes what the
//! ledger expects (categories, times, keys, grantees, records).

use anyhow::anyhow;
use clap::{Args, ValueEnum};
use ehr_ledger::proto::*;

use crate::{Ctx, Result};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    Doctor,
    Nurse,
    Pharmacist,
    LabTechnician,
    Admin,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ServiceArg {
    Ingest,
    Gateway,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CategoryArg {
    Vitals,
    Labs,
    Medications,
    Notes,
    Imaging,
    Demographics,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum AccessArg {
    Read,
    Write,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ReasonArg {
    Unconscious,
    LifeThreatening,
    UnableToConsent,
    Other,
}

/// Under what records are erased.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ErasureArg {
    PatientRequest,
    ConsentWithdrawn,
    LegalOrder,
}

/// Why a hospital must keep records.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum HoldArg {
    Litigation,
    RegulatoryRetention,
    Investigation,
}

/// The grounds on which an amendment may be denied (HIPAA §164.526(a)(2)).
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum DenialArg {
    AccurateAndComplete,
    NotCreatedHere,
    NotInRecordSet,
    NotAvailableForInspection,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum PurposeArg {
    Treatment,
    Emergency,
    PatientRequest,
    Payment,
    Operations,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum OnOff {
    On,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum VoteArg {
    Approve,
    Reject,
}

#[derive(Args)]
pub(crate) struct GranteeArgs {
    /// A clinician (address or key name).
    #[arg(long, conflicts_with = "org", required_unless_present = "org")]
    pub(crate) clinician: Option<String>,
    /// Every clinician of a member organisation.
    #[arg(long)]
    pub(crate) org: Option<String>,
}

#[derive(Args)]
pub(crate) struct RecordArgs {
    #[arg(long)]
    pub(crate) record_id: String,
    #[arg(long)]
    pub(crate) patient: String,
    #[arg(long, value_enum)]
    pub(crate) category: CategoryArg,
    /// SHA-256 of the ciphertext, hex.
    #[arg(long)]
    pub(crate) sha256: String,
    #[arg(long)]
    pub(crate) size: u64,
    #[arg(long)]
    pub(crate) locator: String,
}

/// Content already encrypted and stored by the author's own system: the
/// transaction anchors its hash as it is.
#[derive(Args)]
pub(crate) struct StoredContent {
    /// The record id it is stored under.
    #[arg(long, requires_all = ["stored_sha256", "stored_size", "stored_locator"])]
    pub(crate) stored_id: Option<String>,
    /// SHA-256 of its ciphertext, hex.
    #[arg(long)]
    pub(crate) stored_sha256: Option<String>,
    #[arg(long)]
    pub(crate) stored_size: Option<u64>,
    /// Where it is kept.
    #[arg(long)]
    pub(crate) stored_locator: Option<String>,
}

pub(crate) fn category(c: CategoryArg) -> i32 {
    (match c {
        CategoryArg::Vitals => Category::Vitals,
        CategoryArg::Labs => Category::Labs,
        CategoryArg::Medications => Category::Medications,
        CategoryArg::Notes => Category::Notes,
        CategoryArg::Imaging => Category::Imaging,
        CategoryArg::Demographics => Category::Demographics,
        CategoryArg::All => Category::All,
    }) as i32
}

pub(crate) fn category_path(c: CategoryArg) -> &'static str {
    match c {
        CategoryArg::Vitals => "vitals",
        CategoryArg::Labs => "labs",
        CategoryArg::Medications => "medications",
        CategoryArg::Notes => "notes",
        CategoryArg::Imaging => "imaging",
        CategoryArg::Demographics => "demographics",
        CategoryArg::All => "all",
    }
}

/// "30d", "12h", "90m", "45s" → seconds.
pub(crate) fn duration_secs(s: &str) -> Result<i64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow!("{s:?} is not a duration such as 30d, 12h, 90m"))?;
    let mult = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => return Err(anyhow!("{s:?} is not a duration such as 30d, 12h, 90m")),
    };
    Ok(n * mult)
}

pub(crate) fn now() -> i64 {
    ehr_client::service::now_ms().div_euclid(1000)
}

/// "500", "2.5", "0.125" → thousandths, without floating point.
pub(crate) fn milli(s: &str) -> Result<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || whole.is_empty() {
        return Err(anyhow!(
            "{s:?} must be a number with at most three decimals"
        ));
    }
    let w: u64 = whole
        .parse()
        .map_err(|_| anyhow!("{s:?} is not a number"))?;
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}")
            .parse()
            .map_err(|_| anyhow!("{s:?} is not a number"))?
    };
    Ok(w * 1000 + f)
}

pub(crate) fn validator_key(s: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    if s.len() == 64 {
        if let Ok(b) = hex::decode(s) {
            return Ok(b);
        }
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| anyhow!("{s:?} is neither base64 nor hex"))
}

pub(crate) fn grantee(ctx: &Ctx, g: &GranteeArgs) -> Result<Option<Grantee>> {
    Ok(Some(Grantee {
        kind: Some(match (&g.clinician, &g.org) {
            (Some(c), _) => grantee::Kind::Clinician(ctx.addr(c)?),
            (None, Some(o)) => grantee::Kind::Organisation(o.clone()),
            (None, None) => return Err(anyhow!("name --clinician or --org")),
        }),
    }))
}

pub(crate) fn record(ctx: &Ctx, r: &RecordArgs) -> Result<RecordRef> {
    Ok(RecordRef {
        record_id: r.record_id.clone(),
        patient: ctx.addr(&r.patient)?,
        category: category(r.category),
        ciphertext_sha256: hex::decode(&r.sha256).map_err(|_| anyhow!("--sha256 must be hex"))?,
        size: r.size,
        locator: r.locator.clone(),
    })
}
