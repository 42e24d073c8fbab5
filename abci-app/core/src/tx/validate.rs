//! Field checks that need no state: lengths, formats, enum values.

use crate::crypto::PublicKey;
use crate::proto::{
    action::Kind, governance_change, grantee, AccessLevel, AttestCheckpoint, Category, CodeEntry,
    CodeSystem, DenialReason, EmergencyReason, ErasureBasis, GovernanceChange, Grantee, HoldReason,
    Purpose, RecordRef, Role, ServiceKind,
};
use crate::refusal::{refuse, Code, Refusal};

pub const MAX_DISCLOSURES_PER_TX: usize = 100;
pub const MAX_RECORD_IDS_PER_DISCLOSURE: usize = 1000;
pub const MAX_JUSTIFICATION_CHARS: usize = 200;
pub const MAX_VALIDATOR_POWER: i64 = 1_000_000_000_000;
const MAX_REFILLS: u32 = 11;
const MAX_RECORD_BYTES: u64 = 1 << 40;
/// Keys one `enroll_patient` may carry (a front desk's batch).
pub const MAX_ENROLLMENTS_PER_TX: usize = 500;
const MAX_BATCH_RECORDS: u32 = 1_000_000;
/// Codes one proposal may add.
pub const MAX_CODES_PER_PROPOSAL: usize = 100;
const MAX_DISPLAY_CHARS: usize = 200;

fn invalid<T>(message: impl Into<String>) -> Result<T, Refusal> {
    refuse(Code::InvalidField, message)
}

pub fn address(field: &str, bytes: &[u8]) -> Result<(), Refusal> {
    if bytes.len() != 20 {
        return invalid(format!(
            "{field} must be a 20-byte address, got {} bytes",
            bytes.len()
        ));
    }
    Ok(())
}

pub fn public_key(field: &str, bytes: &[u8]) -> Result<PublicKey, Refusal> {
    PublicKey::from_bytes(bytes).ok_or_else(|| {
        Refusal::new(
            Code::InvalidField,
            format!("{field} must be a 33-byte compressed secp256k1 public key"),
        )
    })
}

fn signature(field: &str, bytes: &[u8]) -> Result<(), Refusal> {
    if bytes.len() != 64 {
        return invalid(format!(
            "{field} must be a 64-byte signature r||s, got {} bytes",
            bytes.len()
        ));
    }
    Ok(())
}

/// 1..=7 distinct contacts other than the patient and a threshold they can
/// reach; or none (the policy removed) and threshold 0.
fn recovery_contacts(patient: &[u8], contacts: &[Vec<u8>], threshold: u32) -> Result<(), Refusal> {
    use crate::ledger::actions::recovery::MAX_CONTACTS;
    if contacts.len() > MAX_CONTACTS {
        return invalid(format!(
            "at most {MAX_CONTACTS} recovery contacts; got {}",
            contacts.len()
        ));
    }
    for (i, c) in contacts.iter().enumerate() {
        address("contacts", c)?;
        if c == patient {
            return refuse(Code::SelfAction, "a patient cannot be their own recovery contact: name people who can vouch for them when their phone is gone");
        }
        if contacts[..i].contains(c) {
            return invalid("each recovery contact is named once");
        }
    }
    if contacts.is_empty() && threshold != 0
        || !contacts.is_empty() && !(1..=contacts.len() as u32).contains(&threshold)
    {
        return invalid(format!(
            "threshold {threshold} must be 1..={} for {} contact(s) (0 with none)",
            contacts.len(),
            contacts.len()
        ));
    }
    Ok(())
}

fn id_chars(
    field: &str,
    s: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    hint: &str,
) -> Result<(), Refusal> {
    if s.is_empty() || s.len() > max || !s.chars().all(allowed) {
        return invalid(format!(
            "{field} {s:?} must be 1..={max} characters of {hint}"
        ));
    }
    Ok(())
}

pub fn org_id(field: &str, s: &str) -> Result<(), Refusal> {
    if s.len() < 2 {
        return invalid(format!("{field} {s:?} must be at least 2 characters"));
    }
    id_chars(
        field,
        s,
        32,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
        "[a-z0-9-]",
    )
}

/// The shape of a caller's signed request; whether it holds is the rule's
/// to check (`ledger/actions/audit.rs`).
fn signed_request(r: Option<&crate::proto::SignedRequest>) -> Result<(), Refusal> {
    let Some(r) = r else {
        return invalid("a disclosure carries the accessor's signed request it answered");
    };
    let short = |field: &str, s: &str, max: usize| {
        if s.is_empty() || s.len() > max {
            return invalid(format!("request.{field} must hold 1..={max} bytes"));
        }
        Ok(())
    };
    short("audience", &r.audience, 128)?;
    short("method", &r.method, 8)?;
    short("path_and_query", &r.path_and_query, 2048)?;
    short("timestamp", &r.timestamp, 20)?;
    short("nonce", &r.nonce, 64)?;
    if r.body_sha256.len() != 32 || r.public_key.len() != 33 || r.signature.len() != 64 {
        return invalid(
            "request.body_sha256, public_key and signature must have 32, 33 and 64 bytes",
        );
    }
    Ok(())
}

/// Device and record ids.
pub fn object_id(field: &str, s: &str) -> Result<(), Refusal> {
    id_chars(
        field,
        s,
        64,
        |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'),
        "[A-Za-z0-9._:-]",
    )
}

/// A LOINC code: 1–7 digits, a dash and the check digit LOINC computes over
/// them (e.g. "8867-4"), so that a mistyped digit is caught where it is typed.
pub fn loinc(field: &str, s: &str) -> Result<(), Refusal> {
    let shaped = match s.split_once('-') {
        Some((num, check))
            if (1..=7).contains(&num.len())
                && num.bytes().all(|b| b.is_ascii_digit())
                && check.len() == 1
                && check.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some((num, check.as_bytes()[0] - b'0'))
        }
        _ => None,
    };
    let Some((num, check)) = shaped else {
        return invalid(format!(
            "{field} {s:?} is not a LOINC code such as \"8867-4\""
        ));
    };
    let expected = loinc_check_digit(num);
    if check != expected {
        return invalid(format!(
            "{field} {s:?} is not a LOINC code: the check digit of {num} is {expected}, not {check} (a digit mistyped?)"
        ));
    }
    Ok(())
}

/// LOINC's mod-10 check digit (Luhn's): counting from the right, the first,
/// third, fifth… digits doubled, the digits of all summed, and what brings
/// the sum to the next multiple of ten.
fn loinc_check_digit(num: &str) -> u8 {
    let sum: u32 = num
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let twice = 2 * d;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn text(field: &str, s: &str, max_chars: usize) -> Result<(), Refusal> {
    let n = s.chars().count();
    if n == 0 || n > max_chars || s.chars().any(char::is_control) {
        return invalid(format!(
            "{field} must be 1..={max_chars} characters without control characters"
        ));
    }
    Ok(())
}

fn enum_value<E: TryFrom<i32>>(field: &str, value: i32, unspecified: i32) -> Result<E, Refusal> {
    if value == unspecified {
        return invalid(format!("{field} must be set"));
    }
    E::try_from(value).map_err(|_| {
        Refusal::new(
            Code::InvalidField,
            format!("{field} {value} is not a known value"),
        )
    })
}

pub fn category(field: &str, value: i32, allow_all: bool) -> Result<Category, Refusal> {
    let c: Category = enum_value(field, value, 0)?;
    if c == Category::All && !allow_all {
        return invalid(format!("{field} must name one category, not \"all\""));
    }
    Ok(c)
}

fn ed25519_key(field: &str, bytes: &[u8]) -> Result<(), Refusal> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| {
        Refusal::new(
            Code::InvalidField,
            format!(
                "{field} must be a 32-byte ed25519 public key, got {} bytes",
                bytes.len()
            ),
        )
    })?;
    // CometBFT halts on a validator update it cannot decode, so check the point here.
    // Small-order ("weak") points decode but are no one's key.
    match ed25519_dalek::VerifyingKey::from_bytes(&arr) {
        Ok(key) if !key.is_weak() => Ok(()),
        _ => invalid(format!("{field} is not a valid ed25519 public key")),
    }
}

/// An ICD-10-CM code: a letter, two characters (digits, or a digit and a
/// letter), then optionally a dot and 1–4 letters or digits ("E11.9", "I10").
fn icd10(field: &str, s: &str) -> Result<(), Refusal> {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_digit() || c.is_ascii_uppercase();
    let ok = b.len() >= 3
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_digit()
        && alnum(&b[2])
        && match &b[3..] {
            [] => true,
            [b'.', rest @ ..] => (1..=4).contains(&rest.len()) && rest.iter().all(alnum),
            _ => false,
        };
    if !ok {
        return invalid(format!(
            "{field} {s:?} is not an ICD-10-CM code such as \"E11.9\""
        ));
    }
    Ok(())
}

/// A SNOMED CT identifier: 6–18 digits, not starting with 0.
fn snomed(field: &str, s: &str) -> Result<(), Refusal> {
    if !(6..=18).contains(&s.len()) || !s.bytes().all(|c| c.is_ascii_digit()) || s.starts_with('0')
    {
        return invalid(format!(
            "{field} {s:?} is not a SNOMED CT identifier (6 to 18 digits)"
        ));
    }
    Ok(())
}

/// A code of `system` in the shape that system writes it.
pub fn directory_code(field: &str, system: i32, code: &str) -> Result<CodeSystem, Refusal> {
    let system = enum_value::<CodeSystem>("system", system, 0)?;
    match system {
        CodeSystem::Loinc => loinc(field, code)?,
        CodeSystem::Icd10 => icd10(field, code)?,
        CodeSystem::Snomed => snomed(field, code)?,
        CodeSystem::Unspecified => return invalid("system must be set"),
    }
    Ok(system)
}

/// A code as the directory keeps it: a unit and a plausible range for a
/// measurement (LOINC only), neither for anything else.
fn code_entry(e: &CodeEntry) -> Result<(), Refusal> {
    let system = directory_code("code", e.system, &e.code)?;
    text("display", &e.display, MAX_DISPLAY_CHARS)?;
    if e.unit.is_empty() {
        if e.min != 0.0 || e.max != 0.0 {
            return invalid(format!(
                "{} has a range but no unit: a measurement names its UCUM unit",
                e.code
            ));
        }
        return Ok(());
    }
    if system != CodeSystem::Loinc {
        return invalid(format!(
            "{} carries a unit, but only a LOINC code is a measurement",
            e.code
        ));
    }
    // UCUM's printable ASCII, no spaces: "/min", "mm[Hg]", "10*3/uL".
    if e.unit.len() > 32 || !e.unit.bytes().all(|c| c.is_ascii_graphic()) {
        return invalid(format!(
            "unit {:?} of {} is not a UCUM unit (1..=32 printable characters, no spaces)",
            e.unit, e.code
        ));
    }
    if let Some(p) = super::ucum::problem(&e.unit) {
        return invalid(format!(
            "unit {:?} of {} is not a UCUM unit: {p}",
            e.unit, e.code
        ));
    }
    if !(e.min.is_finite() && e.max.is_finite() && e.min < e.max) {
        return invalid(format!(
            "{}'s plausible range must be two finite numbers, min < max",
            e.code
        ));
    }
    Ok(())
}

fn power(field: &str, p: i64) -> Result<(), Refusal> {
    if !(1..=MAX_VALIDATOR_POWER).contains(&p) {
        return invalid(format!(
            "{field} must be 1..={MAX_VALIDATOR_POWER}, got {p}"
        ));
    }
    Ok(())
}

fn grantee(g: &Option<Grantee>) -> Result<(), Refusal> {
    match g.as_ref().and_then(|g| g.kind.as_ref()) {
        Some(grantee::Kind::Clinician(a)) => address("grantee clinician", a),
        Some(grantee::Kind::Organisation(o)) => org_id("grantee organisation", o),
        None => invalid("grantee must name a clinician or an organisation"),
    }
}

fn categories(list: &[i32], allow_empty: bool) -> Result<(), Refusal> {
    if list.is_empty() && !allow_empty {
        return invalid("categories must name at least one category");
    }
    let mut seen = Vec::with_capacity(list.len());
    for c in list {
        category("category", *c, true)?;
        if seen.contains(c) {
            return invalid(format!("category {c} is named twice"));
        }
        seen.push(*c);
    }
    Ok(())
}

pub fn record_ref(r: &Option<RecordRef>) -> Result<&RecordRef, Refusal> {
    let r = r
        .as_ref()
        .ok_or_else(|| Refusal::new(Code::InvalidField, "record is missing"))?;
    object_id("record_id", &r.record_id)?;
    address("record patient", &r.patient)?;
    category("record category", r.category, false)?;
    if r.ciphertext_sha256.len() != 32 {
        return invalid("ciphertext_sha256 must be 32 bytes");
    }
    if r.size == 0 || r.size > MAX_RECORD_BYTES {
        return invalid(format!("size must be 1..={MAX_RECORD_BYTES} bytes"));
    }
    if r.locator.is_empty() || r.locator.len() > 256 || r.locator.chars().any(char::is_control) {
        return invalid("locator must be 1..=256 bytes without control characters");
    }
    Ok(r)
}

fn governance_change(change: &Option<GovernanceChange>) -> Result<(), Refusal> {
    use governance_change::Kind as G;
    match change.as_ref().and_then(|c| c.kind.as_ref()) {
        None => invalid("the proposal carries no change"),
        Some(G::AddMember(m)) => {
            org_id("org_id", &m.org_id)?;
            text("name", &m.name, 100)?;
            public_key("admin_public_key", &m.admin_public_key).map(drop)
        }
        Some(G::RemoveMember(m)) => org_id("org_id", &m.org_id),
        Some(G::AddValidator(v)) => {
            ed25519_key("pub_key", &v.pub_key)?;
            power("power", v.power)?;
            org_id("operator_org", &v.operator_org)
        }
        Some(G::RemoveValidator(v)) => ed25519_key("pub_key", &v.pub_key),
        Some(G::SetValidatorPower(v)) => {
            ed25519_key("pub_key", &v.pub_key)?;
            power("power", v.power)
        }
        Some(G::AddCodes(a)) => {
            if a.codes.is_empty() || a.codes.len() > MAX_CODES_PER_PROPOSAL {
                return invalid(format!(
                    "a proposal adds 1..={MAX_CODES_PER_PROPOSAL} codes, got {}",
                    a.codes.len()
                ));
            }
            for (i, e) in a.codes.iter().enumerate() {
                code_entry(e)?;
                if a.codes[..i]
                    .iter()
                    .any(|o| o.system == e.system && o.code == e.code)
                {
                    return invalid(format!("{} is listed twice", e.code));
                }
            }
            Ok(())
        }
        Some(G::RetireCode(r)) => {
            directory_code("code", r.system, &r.code)?;
            text("reason", &r.reason, MAX_DISPLAY_CHARS)?;
            if !r.replaced_by.is_empty() {
                directory_code("replaced_by", r.system, &r.replaced_by)?;
                if r.replaced_by == r.code {
                    return invalid("a code cannot replace itself");
                }
            }
            Ok(())
        }
    }
}

/// Checks every field of an action that can be checked without state.
pub fn validate_action(action: &Kind) -> Result<(), Refusal> {
    match action {
        Kind::Propose(p) => governance_change(&p.change),
        Kind::Vote(_) => Ok(()),
        Kind::RegisterStaff(r) => {
            public_key("public_key", &r.public_key)?;
            enum_value::<Role>("role", r.role, 0).map(drop)
        }
        Kind::RegisterService(r) => {
            public_key("public_key", &r.public_key)?;
            enum_value::<ServiceKind>("kind", r.kind, 0).map(drop)
        }
        Kind::Suspend(s) => address("address", &s.address),
        Kind::Reinstate(s) => address("address", &s.address),
        Kind::RegisterPatient(r) => {
            if !r.guardian_public_key.is_empty() {
                public_key("guardian_public_key", &r.guardian_public_key)?;
            }
            Ok(())
        }
        Kind::EnrollPatient(e) => {
            if e.public_keys.is_empty() || e.public_keys.len() > MAX_ENROLLMENTS_PER_TX {
                return invalid(format!(
                    "public_keys must hold 1..={MAX_ENROLLMENTS_PER_TX} keys"
                ));
            }
            e.public_keys
                .iter()
                .try_for_each(|k| public_key("public_keys", k).map(drop))
        }
        Kind::SetGuardian(s) => {
            address("patient", &s.patient)?;
            if !s.guardian_public_key.is_empty() {
                public_key("guardian_public_key", &s.guardian_public_key)?;
            }
            Ok(())
        }
        Kind::BindDevice(b) => {
            object_id("device_id", &b.device_id)?;
            public_key("device public_key", &b.public_key)?;
            address("patient", &b.patient)
        }
        Kind::RevokeDevice(r) => object_id("device_id", &r.device_id),
        Kind::GrantAccess(g) => {
            address("patient", &g.patient)?;
            grantee(&g.grantee)?;
            categories(&g.categories, false)?;
            enum_value::<AccessLevel>("access", g.access, 0)?;
            if g.expires_at <= 0 {
                return invalid("expires_at must be a unix time in seconds");
            }
            Ok(())
        }
        Kind::RevokeAccess(r) => {
            address("patient", &r.patient)?;
            grantee(&r.grantee)?;
            categories(&r.categories, true)
        }
        Kind::SetResearchConsent(s) => address("patient", &s.patient),
        Kind::RequestAccess(r) => {
            address("patient", &r.patient)?;
            categories(&r.categories, false)
        }
        Kind::DeclineAccessRequest(d) => {
            address("patient", &d.patient)?;
            address("requester", &d.requester)
        }
        Kind::RotateKey(r) => {
            if !r.participant.is_empty() {
                address("participant", &r.participant)?;
            }
            public_key("new_public_key", &r.new_public_key)?;
            signature("new_key_proof", &r.new_key_proof)
        }
        Kind::SetRecoveryContacts(r) => {
            address("patient", &r.patient)?;
            recovery_contacts(&r.patient, &r.contacts, r.threshold)
        }
        Kind::RequestAmendment(r) => {
            object_id("record_id", &r.record_id)?;
            record_ref(&r.request).map(drop)
        }
        Kind::AcceptAmendment(a) => record_ref(&a.correction).map(drop),
        Kind::DenyAmendment(d) => {
            enum_value::<DenialReason>("reason", d.reason, 0)?;
            if d.explanation.is_some() {
                record_ref(&d.explanation)?;
            }
            Ok(())
        }
        Kind::FileDisagreement(f) => record_ref(&f.statement).map(drop),
        Kind::EraseRecords(e) => {
            address("patient", &e.patient)?;
            let basis: ErasureBasis = enum_value("basis", e.basis, 0)?;
            if e.record_ids.len() > crate::ledger::actions::erasure::MAX_ERASED_IDS {
                return invalid(format!(
                    "at most {} record ids per erasure",
                    crate::ledger::actions::erasure::MAX_ERASED_IDS
                ));
            }
            for id in &e.record_ids {
                object_id("record_ids", id)?;
            }
            categories(&e.categories, true)?;
            if e.categories.contains(&(Category::All as i32)) {
                return invalid("erase everything with everything=true, not category all");
            }
            if !e.everything && e.record_ids.is_empty() && e.categories.is_empty() {
                return invalid("say what to erase: record ids, categories or everything");
            }
            if basis == ErasureBasis::LegalOrder || !e.reference.is_empty() {
                text("reference", &e.reference, MAX_JUSTIFICATION_CHARS)?;
            }
            Ok(())
        }
        Kind::SetLegalHold(h) => {
            address("patient", &h.patient)?;
            categories(&h.categories, true)?;
            if h.categories.contains(&(Category::All as i32)) {
                return invalid("a hold on every category names none, not category all");
            }
            if h.until != 0 {
                enum_value::<HoldReason>("reason", h.reason, 0)?;
                text("reference", &h.reference, MAX_JUSTIFICATION_CHARS)?;
            }
            Ok(())
        }
        Kind::ApproveRecovery(r) => {
            address("patient", &r.patient)?;
            public_key("new_public_key", &r.new_public_key)?;
            signature("new_key_proof", &r.new_key_proof)
        }
        Kind::OpenEmergencyAccess(e) => {
            address("patient", &e.patient)?;
            enum_value::<EmergencyReason>("reason", e.reason, 0)?;
            text("justification", &e.justification, MAX_JUSTIFICATION_CHARS)
        }
        Kind::OrderLabTest(o) => {
            address("patient", &o.patient)?;
            org_id("lab_org", &o.lab_org)?;
            record_ref(&o.order).map(drop)
        }
        Kind::PostLabResult(p) => record_ref(&p.record).map(drop),
        Kind::Prescribe(p) => {
            address("patient", &p.patient)?;
            if p.refills > MAX_REFILLS {
                return invalid(format!("refills must be at most {MAX_REFILLS}"));
            }
            if p.valid_until <= 0 {
                return invalid("valid_until must be a unix time in seconds");
            }
            record_ref(&p.content).map(drop)
        }
        Kind::Dispense(_) => Ok(()),
        Kind::AnchorRecord(a) => record_ref(&a.record).map(drop),
        Kind::AnchorBatch(b) => {
            if b.merkle_root.len() != 32 {
                return invalid("merkle_root must be 32 bytes");
            }
            if b.record_count == 0 || b.record_count > MAX_BATCH_RECORDS {
                return invalid(format!("record_count must be 1..={MAX_BATCH_RECORDS}"));
            }
            let span = b
                .last_record
                .checked_sub(b.first_record)
                .and_then(|d| d.checked_add(1));
            if span != Some(u64::from(b.record_count)) {
                return invalid(format!(
                    "first_record..=last_record ({}..={}) must cover exactly record_count ({}) records",
                    b.first_record, b.last_record, b.record_count
                ));
            }
            Ok(())
        }
        Kind::LogDisclosures(l) => {
            if l.disclosures.is_empty() || l.disclosures.len() > MAX_DISCLOSURES_PER_TX {
                return invalid(format!(
                    "disclosures must hold 1..={MAX_DISCLOSURES_PER_TX} entries"
                ));
            }
            for d in &l.disclosures {
                address("accessor", &d.accessor)?;
                address("patient", &d.patient)?;
                category("category", d.category, false)?;
                enum_value::<Purpose>("purpose", d.purpose, 0)?;
                if d.record_ids.is_empty() || d.record_ids.len() > MAX_RECORD_IDS_PER_DISCLOSURE {
                    return invalid(format!(
                        "record_ids must hold 1..={MAX_RECORD_IDS_PER_DISCLOSURE} ids"
                    ));
                }
                for id in &d.record_ids {
                    object_id("record id", id)?;
                }
                if d.outbox_id == 0 {
                    return invalid(
                        "a disclosure's outbox_id (the gateway's id of it) must be > 0",
                    );
                }
                signed_request(d.request.as_ref())?;
            }
            Ok(())
        }
        Kind::AttestCheckpoint(a) => {
            if a.height == 0 {
                return invalid("height must be a block's height (> 0)");
            }
            checkpoint_parts(a).map(drop)
        }
    }
}

/// The attestation's app hash and signature at their lengths.
fn checkpoint_parts(a: &AttestCheckpoint) -> Result<([u8; 32], [u8; 65]), Refusal> {
    let app_hash = <[u8; 32]>::try_from(a.app_hash.as_slice()).or_else(|_| {
        invalid(format!(
            "app_hash must be 32 bytes, got {}",
            a.app_hash.len()
        ))
    })?;
    let sig = <[u8; 65]>::try_from(a.signature.as_slice()).or_else(|_| {
        invalid(format!(
            "signature must be 65 bytes r||s||v, got {}",
            a.signature.len()
        ))
    })?;
    Ok((app_hash, sig))
}

/// The attestation is signed, over the checkpoint digest of this chain, by
/// the key that signs the transaction: a member cannot post another's
/// signature, nor one the contract would refuse.
pub fn checkpoint_signature(
    a: &AttestCheckpoint,
    chain_id: &str,
    signer: &PublicKey,
) -> Result<(), Refusal> {
    let (app_hash, sig) = checkpoint_parts(a)?;
    let digest = crate::crypto::checkpoint::checkpoint_digest(chain_id, a.height, &app_hash);
    match crate::crypto::checkpoint::recover(&digest, &sig) {
        Ok(key) if key == *signer => Ok(()),
        Ok(_) => refuse(
            Code::BadSignature,
            format!(
                "the attestation's signature is not by the transaction's key over the checkpoint of {chain_id} at height {}: sign it with the same key (ehr ethereum sign)",
                a.height
            ),
        ),
        Err(e) => refuse(
            Code::BadSignature,
            format!("the attestation's signature cannot be checked: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::loinc;

    #[test]
    fn loinc_codes_carry_their_check_digit() {
        // Codes of the directory's seed, one whose digit is 0, and the worked
        // example of LOINC's users' guide (12345 → 5).
        for code in [
            "8867-4", "59408-5", "85354-9", "2339-0", "15074-8", "12345-5", "0-0",
        ] {
            assert!(loinc("code", code).is_ok(), "{code}");
        }
        // Luhn's digit catches every single mistyped digit: each one of
        // 8867-4's digits replaced by each other digit is refused.
        let good = "88674";
        for at in 0..good.len() {
            for d in b'0'..=b'9' {
                let mut typed = good.as_bytes().to_vec();
                if typed[at] == d {
                    continue;
                }
                typed[at] = d;
                let body = String::from_utf8(typed).unwrap();
                let code = format!("{}-{}", &body[..4], &body[4..]);
                let refused = loinc("code", &code).unwrap_err();
                assert!(
                    refused.message.contains("check digit"),
                    "{code}: {}",
                    refused.message
                );
            }
        }
        let r = loinc("test", "8876-4").unwrap_err();
        assert!(
            r.message.contains("the check digit of 8876 is 5, not 4"),
            "{}",
            r.message
        );
        for shape in [
            "8867",
            "8867-",
            "-4",
            "8867-44",
            "12345678-9",
            "8867-x",
            "88a7-4",
            "",
        ] {
            let r = loinc("code", shape).unwrap_err();
            assert!(r.message.contains("such as"), "{shape}: {}", r.message);
        }
    }
}
