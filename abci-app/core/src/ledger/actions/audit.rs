//! The audit trail: every disclosure of a patient's data, and every emergency
//! access, appended under the patient in order. Entries are never changed.
//!
//! A gateway logs a disclosure only with the accessor's signed request it
//! answered, checked here again: signed by the accessor, addressed to this
//! gateway, for this patient's records of this category with this purpose,
//! near the time served. So no gateway can write a read into a trail that
//! nobody asked it for, or change why it was asked. Each disclosure carries
//! the gateway's own id of it, logged once; its purpose is held against the
//! basis the ledger finds, and flagged when it does not fit.

use crate::crypto::{request, Address};
use crate::proto::{
    AccessBasis, AccessLevel, AuditEntry, AuditKind, Category, Counter, Disclosure, LogDisclosures,
    Purpose, ServiceKind,
};
use crate::refusal::{Code, Refusal};
use crate::storage::StateRead;

use super::super::access::{category_name, decide, Decision};
use super::super::actors::{self, require_patient, require_service};
use super::super::context::Ctx;
use super::super::keys;

/// Appends an entry to the patient's trail, filling sequence, height and time.
pub fn append(ctx: &mut Ctx, patient: &Address, mut entry: AuditEntry) -> Result<u64, Refusal> {
    let seq = ctx.next_id(&keys::next_audit(patient))?;
    entry.seq = seq;
    entry.patient = patient.0.to_vec();
    entry.height = ctx.height as i64;
    entry.block_time = ctx.time;
    ctx.state.put(keys::audit_entry(patient, seq), &entry);
    Ok(seq)
}

pub fn log_disclosures(ctx: &mut Ctx, l: &LogDisclosures) -> Result<(), Refusal> {
    require_service(
        ctx.state,
        &ctx.signer,
        ServiceKind::Gateway,
        "a gateway service may log disclosures",
    )?;
    for d in &l.disclosures {
        let patient = actors::address("patient", &d.patient)?;
        let accessor = actors::address("accessor", &d.accessor)?;
        require_patient(ctx.state, &patient)?;
        let category = Category::try_from(d.category).unwrap_or(Category::Unspecified);
        // The ledger records the basis it finds now; a disclosure without one is
        // still recorded (the trail must not lose it) and flagged by basis NONE.
        let basis = match decide(
            ctx.state,
            &accessor,
            &patient,
            category,
            AccessLevel::Read,
            ctx.time,
        )? {
            Decision::Allowed { basis, .. } => basis,
            Decision::Denied(_) => AccessBasis::None,
        };
        let signer = ctx.signer;
        let state = &*ctx.state;
        let request_sha256 = requested(d, &patient, &accessor, &signer, &|key| {
            actors::identity_of(state, key)
        })?;
        let logged = keys::logged_disclosure(&signer, d.outbox_id);
        if let Some(at) = ctx.state.get::<Counter>(logged.as_bytes())? {
            // Sent again (delivery is at least once): already in the trail —
            // if it is the same disclosure. Another one under a used id (the
            // gateway's outbox restored from a backup) is refused, not lost.
            let first: Option<AuditEntry> = ctx
                .state
                .get(keys::audit_entry(&patient, at.next).as_bytes())?;
            if first.is_some_and(|e| e.request_sha256 == request_sha256) {
                continue;
            }
            return Err(Refusal::new(
                Code::UnrequestedDisclosure,
                format!(
                    "outbox id {} of gateway {signer} is already logged for another disclosure: \
                     the gateway's outbox reuses ids (restored from a backup?) — number on past it",
                    d.outbox_id
                ),
            ));
        }
        let purpose = Purpose::try_from(d.purpose).unwrap_or(Purpose::Unspecified);
        let seq = append(
            ctx,
            &patient,
            AuditEntry {
                accessor: d.accessor.clone(),
                kind: AuditKind::Disclosure as i32,
                record_ids: d.record_ids.clone(),
                purpose: d.purpose,
                basis: basis as i32,
                emergency: basis == AccessBasis::Emergency,
                logged_by: signer.0.to_vec(),
                disclosed_at: d.disclosed_at,
                category: d.category,
                request_sha256: request_sha256.to_vec(),
                outbox_id: d.outbox_id,
                purpose_unfit: basis != AccessBasis::None && !fits(purpose, basis),
                ..Default::default()
            },
        )?;
        // Where the gateway finds (and proves) the entry of its disclosure.
        ctx.state.put(logged, &Counter { next: seq });
        ctx.emit(
            "disclosure",
            &[
                ("patient", patient.to_string()),
                ("accessor", accessor.to_string()),
                ("seq", seq.to_string()),
                ("basis", basis.as_str_name().to_string()),
            ],
        );
    }
    Ok(())
}

/// Whether a purpose may be declared under a basis: a patient's own request
/// under the patient's or guardian's; treatment, payment or operations under
/// a grant; emergency or treatment under an emergency access; operations for
/// the front desk of the patient's home organisation (their demographics).
pub fn fits(purpose: Purpose, basis: AccessBasis) -> bool {
    use AccessBasis as B;
    use Purpose as P;
    matches!(
        (purpose, basis),
        (P::PatientRequest, B::Patient | B::Guardian)
            | (P::KeyRecovery, B::Patient)
            | (P::Treatment | P::Payment | P::Operations, B::Grant)
            | (P::Emergency | P::Treatment, B::Emergency)
            | (P::Operations, B::HomeOrganisation)
    )
}

/// The word a request names a purpose by (`?purpose=`).
pub fn purpose_word(p: Purpose) -> &'static str {
    match p {
        Purpose::Treatment => "treatment",
        Purpose::Emergency => "emergency",
        Purpose::PatientRequest => "patient_request",
        Purpose::Payment => "payment",
        Purpose::Operations => "operations",
        Purpose::KeyRecovery => "key_recovery",
        Purpose::Unspecified => "unspecified",
    }
}

/// Whether `gateway` may log disclosure `d`: its shape as a transaction's
/// validation checks it, and its reader's signed request as the rule checks
/// it. A gateway runs this before it serves (with any `outbox_id` > 0), so
/// that what it serves is never refused when it logs it: the gateway and the
/// ledger cannot read one request two ways.
///
/// `identity_of` says whom a key signs for (a rotated key signs for its
/// participant's address): the gateway answers it from proven state.
pub fn loggable(
    d: &Disclosure,
    gateway: &Address,
    identity_of: &dyn Fn(&Address) -> Result<Address, Refusal>,
) -> Result<(), Refusal> {
    crate::tx::validate::validate_action(&crate::proto::action::Kind::LogDisclosures(
        LogDisclosures {
            disclosures: vec![d.clone()],
        },
    ))?;
    let patient = actors::address("patient", &d.patient)?;
    let accessor = actors::address("accessor", &d.accessor)?;
    requested(d, &patient, &accessor, gateway, identity_of).map(|_| ())
}

/// How far a request's time may be from the disclosure's, in seconds.
const REQUEST_SKEW_SECS: i64 = 600;

/// The SHA-256 of the accessor's signed request behind disclosure `d`, when
/// it holds: signed by the accessor, addressed to the logging `gateway`, a
/// read (GET) of `patient`'s records of the disclosure's category (or all)
/// with its purpose (or, not named, a default one), near its time.
fn requested(
    d: &Disclosure,
    patient: &Address,
    accessor: &Address,
    gateway: &Address,
    identity_of: &dyn Fn(&Address) -> Result<Address, Refusal>,
) -> Result<[u8; 32], Refusal> {
    let unrequested = |why: String| {
        Refusal::new(
            Code::UnrequestedDisclosure,
            format!("the disclosure to {accessor} of {patient}'s records: {why}"),
        )
    };
    let r = d
        .request
        .as_ref()
        .ok_or_else(|| unrequested("it carries no signed request".into()))?;
    let (signer, digest) =
        request::verify(r).map_err(|e| unrequested(format!("the request: {e}")))?;
    if identity_of(&signer)? != *accessor {
        return Err(unrequested(format!(
            "the request was signed by {signer}, not by a key of the accessor"
        )));
    }
    if r.audience.parse::<Address>().ok() != Some(*gateway) {
        return Err(unrequested(format!(
            "the request was addressed to {:?}, not to {gateway}, which logs it",
            r.audience
        )));
    }
    if r.method != "GET" {
        return Err(unrequested(format!(
            "a {} request discloses nothing",
            r.method
        )));
    }
    let (path, query) = r
        .path_and_query
        .split_once('?')
        .unwrap_or((r.path_and_query.as_str(), ""));
    let named = path
        .strip_prefix("/v1/patients/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse::<Address>().ok());
    if named != Some(*patient) {
        return Err(unrequested(format!(
            "the request ({path}) does not ask for this patient's records"
        )));
    }
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let category = category_name(Category::try_from(d.category).unwrap_or(Category::Unspecified));
    if let Some(asked) = param("category").filter(|c| *c != "all" && *c != category) {
        return Err(unrequested(format!(
            "the request asked for {asked} records, not {category}"
        )));
    }
    let purpose = Purpose::try_from(d.purpose).unwrap_or(Purpose::Unspecified);
    match param("purpose") {
        Some(asked) if asked != purpose_word(purpose) => {
            return Err(unrequested(format!(
                "the request declared the purpose {asked}, not {}",
                purpose_word(purpose)
            )))
        }
        // Undeclared, a purpose is the one the basis implies: treatment,
        // emergency or the patient's own request — or operations, the front
        // desk's, for the patient's demographics.
        None if !(matches!(
            purpose,
            Purpose::Treatment | Purpose::Emergency | Purpose::PatientRequest
        ) || (purpose == Purpose::Operations && category == "demographics")) =>
        {
            return Err(unrequested(format!(
                "the request declared no purpose, so {} is not its own",
                purpose_word(purpose)
            )))
        }
        _ => {}
    }
    let at = r.timestamp.parse::<i64>().unwrap_or(i64::MIN) / 1000;
    if at.saturating_sub(d.disclosed_at).unsigned_abs() > REQUEST_SKEW_SECS as u64 {
        return Err(unrequested(format!(
            "the request was signed at {at}, more than {REQUEST_SKEW_SECS} s from the disclosure at {}",
            d.disclosed_at
        )));
    }
    Ok(digest)
}
