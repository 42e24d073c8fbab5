//! The consortium's code directory, read from the chain (docs/ledger.md,
//! "The code directory"). A code is read by its key with a state proof; a
//! search lists a system's codes (lists carry no proof), keeps those that
//! match, and proves each one it answers: what it shows is what the
//! validators signed. That nothing was left out cannot be proven this way —
//! a node could omit a code — so a search says how many it proved, and a
//! code asked for by name is always proven present or absent.

use ehr_ledger::ledger::{codes::slug, keys};
use ehr_ledger::proto::{CodeEntry, CodeSystem, Concept, ConceptList, ConceptStatus};

use crate::rpc::proven::{ProvenError, ProvenState};

/// What the directory says of the LOINC codes some readings carry: each
/// code's display and unit, proven (a retired code stays in the directory,
/// so an old reading still displays). What the FHIR export names a reading
/// by, never a table in the code.
#[derive(Clone, Debug, Default)]
pub struct Measurements(std::collections::BTreeMap<String, CodeEntry>);

impl Measurements {
    /// The entries of `codes`, all proven at once at one height; a code the
    /// directory lacks, or that is no measurement, is left out. An entry
    /// never changes once added (retiring keeps it), so the newest state a
    /// header proves serves, however old.
    pub async fn proven<'a>(
        chain: &ProvenState,
        codes: impl IntoIterator<Item = &'a str>,
    ) -> Result<Measurements, ProvenError> {
        let codes: std::collections::BTreeSet<&str> = codes.into_iter().collect();
        if codes.is_empty() {
            return Ok(Measurements::default());
        }
        let mut view = chain.settled().await?;
        let keys: Vec<String> = codes
            .iter()
            .map(|c| keys::code(CodeSystem::Loinc, c))
            .collect();
        view.prove(keys.iter().map(|k| k.as_bytes().to_vec()))
            .await?;
        let mut found = Vec::new();
        for key in &keys {
            if let Some(e) = view.get::<Concept>(key).await?.and_then(|c| c.entry) {
                found.push(e);
            }
        }
        Ok(Measurements::from_entries(found))
    }

    /// From entries at hand (tests, and the seed).
    pub fn from_entries(entries: impl IntoIterator<Item = CodeEntry>) -> Measurements {
        Measurements(
            entries
                .into_iter()
                .filter(|e| e.system == CodeSystem::Loinc as i32 && !e.unit.is_empty())
                .map(|e| (e.code.clone(), e))
                .collect(),
        )
    }

    /// The genesis seed's measurements.
    pub fn seed() -> Measurements {
        Measurements::from_entries(
            ehr_ledger::ledger::genesis::seed_codes()
                .iter()
                .filter_map(|c| c.entry().ok()),
        )
    }

    /// A measurement's entry: its display and UCUM unit.
    pub fn get(&self, loinc: &str) -> Option<&CodeEntry> {
        self.0.get(loinc)
    }
}

/// Codes one search proves and answers at most.
pub const MAX_FOUND: usize = 200;

/// A code's entry, proven present (`Some`) or absent (`None`).
pub async fn show(
    chain: &ProvenState,
    system: CodeSystem,
    code: &str,
) -> Result<Option<Concept>, ProvenError> {
    chain.latest().await?.get(&keys::code(system, code)).await
}

/// The codes of `system` whose code or display holds `text` (any case),
/// retired ones only with `retired`; each proven at one height; the first
/// `MAX_FOUND` in code order.
pub async fn search(
    chain: &ProvenState,
    system: CodeSystem,
    text: &str,
    retired: bool,
) -> Result<Vec<Concept>, ProvenError> {
    let listed = chain
        .rpc()
        .query_all::<ConceptList>(&format!("/codes/{}", slug(system)))
        .await?;
    let needle = text.to_lowercase();
    let holds = |e: &ehr_ledger::proto::CodeEntry| {
        e.code.to_lowercase().contains(&needle) || e.display.to_lowercase().contains(&needle)
    };
    // Each candidate once, and no more than a search answers: a node may
    // list a code many times, or list more than anyone asked for.
    // Retired ones left out before the count (by what the list says; the
    // proof below decides), so that they crowd out no active match.
    let wanted: Vec<String> = listed
        .iter()
        .filter(|c| retired || c.status == ConceptStatus::Active as i32)
        .filter_map(|c| c.entry.as_ref())
        .filter(|e| holds(e))
        .map(|e| keys::code(system, &e.code))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .take(MAX_FOUND)
        .collect();
    let mut view = chain.latest().await?;
    view.prove(wanted.iter().map(|k| k.as_bytes().to_vec()))
        .await?;
    let mut found = Vec::new();
    for key in &wanted {
        // What the list said is only a candidate: the proven value counts,
        // and a listed code proven absent is dropped.
        if let Some(c) = view.get::<Concept>(key).await? {
            let matches = c.entry.as_ref().is_some_and(holds);
            if matches && (retired || c.status == ConceptStatus::Active as i32) {
                found.push(c);
            }
        }
    }
    Ok(found)
}

/// One line a person reads: system, code, display, unit and range, status.
pub fn describe(c: &Concept) -> String {
    let e = c.entry.clone().unwrap_or_default();
    let system = CodeSystem::try_from(e.system).unwrap_or(CodeSystem::Unspecified);
    let measured = if e.unit.is_empty() {
        String::new()
    } else {
        format!(" [{}, {}..={}]", e.unit, e.min, e.max)
    };
    let status = if c.status == ConceptStatus::Retired as i32 {
        let instead = match c.replaced_by.as_str() {
            "" => String::new(),
            by => format!("; use {by}"),
        };
        format!(
            " — RETIRED by proposal {} ({}){instead}",
            c.retired_by, c.reason
        )
    } else {
        String::new()
    };
    format!(
        "{} {}  {}{measured}{status}",
        slug(system),
        e.code,
        e.display
    )
}

/// A code as the gateway's public look-up answers it.
pub fn item(c: &Concept) -> crate::read_path::api::CodeItem {
    let e = c.entry.clone().unwrap_or_default();
    let system = CodeSystem::try_from(e.system).unwrap_or(CodeSystem::Unspecified);
    let measured = !e.unit.is_empty();
    let retired = c.status == ConceptStatus::Retired as i32;
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    crate::read_path::api::CodeItem {
        system: slug(system).into(),
        code: e.code,
        display: e.display,
        unit: measured.then(|| e.unit.clone()),
        min: measured.then_some(e.min),
        max: measured.then_some(e.max),
        status: if retired { "retired" } else { "active" }.into(),
        added_by: c.added_by,
        retired_by: retired.then_some(c.retired_by),
        reason: some(&c.reason).filter(|_| retired),
        replaced_by: some(&c.replaced_by).filter(|_| retired),
    }
}
