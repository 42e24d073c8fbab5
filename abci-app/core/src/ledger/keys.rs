//! Where each record lives in state. Keys are readable text so that a proof's
//! key says what it proves; addresses appear as 40 hex digits, numbers as 20
//! zero-padded digits so that key order is numeric order.

use crate::crypto::Address;
use crate::proto::{grantee, Category, CodeSystem, Grantee};

pub const CHAIN: &str = "chain";
pub const ORGANISATIONS: &str = "org/";
pub const PROPOSALS: &str = "proposal/";
pub const VALIDATORS: &str = "validator/";
pub const CODES: &str = "code/";
pub const ATTESTATIONS: &str = "attestation/";
pub const NEXT_ORDER: &str = "next/order";
pub const NEXT_PRESCRIPTION: &str = "next/prescription";
pub const NEXT_PROPOSAL: &str = "next/proposal";
pub const NEXT_AMENDMENT: &str = "next/amendment";
pub const NEXT_ERASURE: &str = "next/erasure";

fn num(n: u64) -> String {
    format!("{n:020}")
}

pub fn account(a: &Address) -> String {
    format!("account/{}", a.hex())
}

pub fn organisation(org_id: &str) -> String {
    format!("{ORGANISATIONS}{org_id}")
}

pub fn participant(a: &Address) -> String {
    format!("participant/{}", a.hex())
}

/// Index: staff and services of an organisation (empty values).
pub fn org_members(org_id: &str) -> String {
    format!("org_participants/{org_id}/")
}

pub fn org_member(org_id: &str, a: &Address) -> String {
    format!("{}{}", org_members(org_id), a.hex())
}

/// Index: every gateway service ever registered (empty values): the
/// break-glass escrow's candidates, whatever the number of organisations
/// and staff. Readers keep only the active ones of current members.
pub const GATEWAYS: &str = "gateways/";

pub fn gateway(a: &Address) -> String {
    format!("{GATEWAYS}{}", a.hex())
}

/// The participant a key signs for when it is not the key of their own
/// address (bound by a rotation or a recovery).
pub fn key_binding(key: &Address) -> String {
    format!("key/{}", key.hex())
}

/// A patient's recovery contacts, and the recovery under way or last done.
pub fn recovery(patient: &Address) -> String {
    format!("recovery/{}", patient.hex())
}

pub fn enrollment(a: &Address) -> String {
    format!("enrollment/{}", a.hex())
}

/// How many records were anchored for a patient on their latest day (one
/// entry per patient, overwritten as days pass).
pub fn records_today(patient: &Address) -> String {
    format!("quota/records/{}", patient.hex())
}

pub fn device(device_id: &str) -> String {
    format!("device/{device_id}")
}

/// Index: devices bound to a patient (empty values).
pub fn patient_devices(patient: &Address) -> String {
    format!("patient_devices/{}/", patient.hex())
}

pub fn grants_of(patient: &Address) -> String {
    format!("grant/{}/", patient.hex())
}

pub fn grantee_tag(g: &Grantee) -> String {
    match &g.kind {
        Some(grantee::Kind::Clinician(a)) => format!("c:{}", hex::encode(a)),
        Some(grantee::Kind::Organisation(o)) => format!("o:{o}"),
        None => "none".to_string(),
    }
}

pub fn grant(patient: &Address, grantee: &Grantee, category: Category) -> String {
    format!(
        "{}{}/{}",
        grants_of(patient),
        grantee_tag(grantee),
        category.as_str_name()
    )
}

/// Index: the grants a grantee holds, `granted_to/<grantee tag>/<patient hex>/<CATEGORY_…>`
/// (empty values), so a clinician or organisation can list who granted them.
pub fn granted_to(grantee: &Grantee) -> String {
    format!("granted_to/{}/", grantee_tag(grantee))
}

pub fn granted_to_entry(grantee: &Grantee, patient: &Address, category: Category) -> String {
    format!(
        "{}{}/{}",
        granted_to(grantee),
        patient.hex(),
        category.as_str_name()
    )
}

/// A clinician's open request for access to a patient's records.
pub fn access_requests(patient: &Address) -> String {
    format!("access_request/{}/", patient.hex())
}

pub fn access_request(patient: &Address, requester: &Address) -> String {
    format!("{}{}", access_requests(patient), requester.hex())
}

/// Index: the patients a guardian acts for, `guarding/<guardian hex>/<patient hex>`.
pub fn guarding(guardian: &Address) -> String {
    format!("guarding/{}/", guardian.hex())
}

pub fn guarding_entry(guardian: &Address, patient: &Address) -> String {
    format!("{}{}", guarding(guardian), patient.hex())
}

/// Index: a lab's open orders, `lab_orders/<org>/<order id>`, removed once
/// the result is posted.
pub fn lab_orders(org_id: &str) -> String {
    format!("lab_orders/{org_id}/")
}

pub fn emergency(patient: &Address, doctor: &Address) -> String {
    format!("emergency/{}/{}", patient.hex(), doctor.hex())
}

pub fn order(id: u64) -> String {
    format!("order/{}", num(id))
}

pub fn patient_orders(patient: &Address) -> String {
    format!("patient_orders/{}/", patient.hex())
}

pub fn prescription(id: u64) -> String {
    format!("prescription/{}", num(id))
}

pub fn patient_prescriptions(patient: &Address) -> String {
    format!("patient_prescriptions/{}/", patient.hex())
}

/// Index entry under a patient for an order or prescription id.
pub fn indexed(prefix: &str, id: u64) -> String {
    format!("{prefix}{}", num(id))
}

pub fn amendment(id: u64) -> String {
    format!("amendment/{}", num(id))
}

/// Index: a patient's amendments (empty values).
pub fn patient_amendments(patient: &Address) -> String {
    format!("patient_amendments/{}/", patient.hex())
}

/// The latest amendment asked of a record (its id in a `Counter`).
pub fn amendment_of(record_id: &str) -> String {
    format!("amendment_of/{record_id}")
}

pub fn erasure(id: u64) -> String {
    format!("erasure/{}", num(id))
}

/// Index: a patient's erasures (empty values).
pub fn patient_erasures(patient: &Address) -> String {
    format!("patient_erasures/{}/", patient.hex())
}

/// The legal holds on a patient's records, one per organisation (a list).
pub fn legal_holds(patient: &Address) -> String {
    format!("holds/{}", patient.hex())
}

pub fn record(record_id: &str) -> String {
    format!("record/{record_id}")
}

/// The next batch id a service has not anchored: one more than the highest
/// it anchored. An ingest service whose database was restored from an old
/// backup starts its batch ids here, so that none collides with an anchor.
pub fn next_batch(service: &Address) -> String {
    format!("next/batch/{}", service.hex())
}

pub fn batch(service: &Address, batch_id: u64) -> String {
    format!("batch/{}/{}", service.hex(), num(batch_id))
}

pub fn audit_trail(patient: &Address) -> String {
    format!("audit/{}/", patient.hex())
}

pub fn audit_entry(patient: &Address, seq: u64) -> String {
    format!("{}{}", audit_trail(patient), num(seq))
}

/// A disclosure a gateway logged, by the gateway's own id of it (each once):
/// a `Counter` whose `next` is the sequence number of its entry in the
/// patient's trail, so the gateway proves the entry of each of its rows.
pub fn logged_disclosure(gateway: &Address, outbox_id: u64) -> String {
    format!("logged/{}/{}", gateway.hex(), num(outbox_id))
}

pub fn next_audit(patient: &Address) -> String {
    format!("next/audit/{}", patient.hex())
}

pub fn proposal(id: u64) -> String {
    format!("{PROPOSALS}{}", num(id))
}

pub fn validator(pub_key: &[u8]) -> String {
    format!("{VALIDATORS}{}", hex::encode(pub_key))
}

/// An admin's newest checkpoint attestation, under its organisation.
pub fn attestation(org_id: &str, signer: &Address) -> String {
    format!("{ATTESTATIONS}{org_id}/{}", hex::encode(signer.0))
}

/// The directory's codes of one system (`code/loinc/`, `code/icd10/`,
/// `code/snomed/`).
pub fn codes_of(system: CodeSystem) -> String {
    format!("{CODES}{}/", super::codes::slug(system))
}

pub fn code(system: CodeSystem, code: &str) -> String {
    format!("{}{code}", codes_of(system))
}
