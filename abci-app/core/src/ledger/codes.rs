//! The consortium's public code directory: LOINC measurements and tests,
//! ICD-10-CM diagnoses, SNOMED CT symptoms, each with its display and, for a
//! measurement, its UCUM unit and plausible range. Seeded at genesis and
//! changed only by governance; a retired code stays, so old records still
//! name it, and readers refuse it for new ones (docs/ledger.md, "The code
//! directory").

use crate::proto::{
    AddCodes, CodeEntry, CodeSystem, Concept, ConceptStatus, GovernanceChange, RetireCode,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::context::Ctx;
use super::keys;

/// A system's name in keys and query paths.
pub fn slug(system: CodeSystem) -> &'static str {
    match system {
        CodeSystem::Loinc => "loinc",
        CodeSystem::Icd10 => "icd10",
        CodeSystem::Snomed => "snomed",
        CodeSystem::Unspecified => "unspecified",
    }
}

/// The system a path names.
pub fn system_of(slug: &str) -> Option<CodeSystem> {
    [CodeSystem::Loinc, CodeSystem::Icd10, CodeSystem::Snomed]
        .into_iter()
        .find(|s| self::slug(*s) == slug)
}

/// A system's name for people.
pub fn name(system: CodeSystem) -> &'static str {
    match system {
        CodeSystem::Loinc => "LOINC",
        CodeSystem::Icd10 => "ICD-10-CM",
        CodeSystem::Snomed => "SNOMED CT",
        CodeSystem::Unspecified => "an unspecified system",
    }
}

/// Why a retired code may not be used for a new record, in a sentence:
/// "LOINC 2339-0 (glucose) was retired by proposal 4 (reason); use
/// 15074-8". None while the code is active.
pub fn retirement(c: &Concept) -> Option<String> {
    if c.status != ConceptStatus::Retired as i32 {
        return None;
    }
    let e = c.entry.clone().unwrap_or_default();
    let instead = match c.replaced_by.as_str() {
        "" => String::new(),
        by => format!("; use {by}"),
    };
    Some(format!(
        "{} {} ({}) was retired by proposal {} ({}){instead}",
        name(system(e.system)),
        e.code,
        e.display,
        c.retired_by,
        c.reason
    ))
}

fn system(n: i32) -> CodeSystem {
    CodeSystem::try_from(n).unwrap_or(CodeSystem::Unspecified)
}

/// The directory's entry for a code, if it has one.
pub fn concept(
    state: &impl StateRead,
    system: CodeSystem,
    code: &str,
) -> Result<Option<Concept>, Refusal> {
    Ok(state.get(keys::code(system, code).as_bytes())?)
}

/// Whether `change` (a code change) can apply to the directory as it is.
pub fn check_applicable(state: &impl StateRead, change: &GovernanceChange) -> Result<(), Refusal> {
    use crate::proto::governance_change::Kind;
    match change.kind.as_ref() {
        Some(Kind::AddCodes(a)) => {
            for e in &a.codes {
                if concept(state, system(e.system), &e.code)?.is_some() {
                    return refuse(
                        Code::CodeExists,
                        format!(
                            "{} {} is already in the directory",
                            slug(system(e.system)),
                            e.code
                        ),
                    );
                }
            }
            Ok(())
        }
        Some(Kind::RetireCode(r)) => {
            let sys = system(r.system);
            active(state, sys, &r.code)?;
            if !r.replaced_by.is_empty() {
                active(state, sys, &r.replaced_by).map_err(|why| {
                    Refusal::new(why.code, format!("its replacement: {}", why.message))
                })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The code's entry, refused unless it is there and active.
fn active(state: &impl StateRead, system: CodeSystem, code: &str) -> Result<Concept, Refusal> {
    let Some(c) = concept(state, system, code)? else {
        return refuse(
            Code::UnknownCode,
            format!("{} has no code {code}", slug(system)),
        );
    };
    if c.status != ConceptStatus::Active as i32 {
        return refuse(
            Code::CodeRetired,
            format!("{} {code} is already retired", slug(system)),
        );
    }
    Ok(c)
}

/// Writes codes as active, added by `proposal` (0: the genesis).
pub fn add(ctx: &mut Ctx, proposal: u64, a: &AddCodes) {
    for e in &a.codes {
        put_new(ctx, proposal, e);
    }
}

/// Writes one code as active.
pub fn put_new(ctx: &mut Ctx, proposal: u64, e: &CodeEntry) {
    let sys = system(e.system);
    ctx.state.put(
        keys::code(sys, &e.code),
        &Concept {
            entry: Some(e.clone()),
            status: ConceptStatus::Active as i32,
            added_at: ctx.time,
            retired_at: 0,
            added_by: proposal,
            retired_by: 0,
            reason: String::new(),
            replaced_by: String::new(),
        },
    );
    emit(ctx, sys, &e.code, ConceptStatus::Active);
}

/// Marks a code retired by `proposal` (checked applicable first).
pub fn retire(ctx: &mut Ctx, proposal: u64, r: &RetireCode) -> Result<(), Refusal> {
    let sys = system(r.system);
    let mut c = active(ctx.state, sys, &r.code)?;
    c.status = ConceptStatus::Retired as i32;
    c.retired_at = ctx.time;
    c.retired_by = proposal;
    c.reason = r.reason.clone();
    c.replaced_by = r.replaced_by.clone();
    ctx.state.put(keys::code(sys, &r.code), &c);
    emit(ctx, sys, &r.code, ConceptStatus::Retired);
    Ok(())
}

fn emit(ctx: &mut Ctx, system: CodeSystem, code: &str, status: ConceptStatus) {
    ctx.emit(
        "code_changed",
        &[
            ("system", slug(system).to_string()),
            ("code", code.to_string()),
            ("status", status.as_str_name().to_string()),
        ],
    );
}
