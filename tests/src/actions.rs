//! The ledger's actions as tests, benchmarks and the story write them: one
//! constructor per action, with the plausible defaults a test does not care
//! about.

use ehr_ledger::crypto::{sha256, SecretKey};
use ehr_ledger::mock_consensus::Actor;
use ehr_ledger::proto::{action::Kind, *};

/// Anyone an action names: a mock-consensus actor or a bare key.
pub trait Party {
    /// The 20-byte address.
    fn addr(&self) -> Vec<u8>;
    /// The 33-byte compressed public key.
    fn public_key(&self) -> Vec<u8>;
    /// The secret key (to sign requests with).
    fn secret(&self) -> &SecretKey;
}

impl Party for Actor {
    fn addr(&self) -> Vec<u8> {
        Actor::addr(self)
    }
    fn public_key(&self) -> Vec<u8> {
        Actor::public_key(self)
    }
    fn secret(&self) -> &SecretKey {
        &self.key
    }
}

impl Party for SecretKey {
    fn addr(&self) -> Vec<u8> {
        self.address().0.to_vec()
    }
    fn public_key(&self) -> Vec<u8> {
        SecretKey::public_key(self).to_bytes().to_vec()
    }
    fn secret(&self) -> &SecretKey {
        self
    }
}

/// A member's admin vouches for a patient's key, which may then register.
pub fn enroll(public_key: Vec<u8>) -> Kind {
    Kind::EnrollPatient(EnrollPatient {
        public_keys: vec![public_key],
    })
}

pub fn register_staff(public_key: Vec<u8>, role: Role) -> Kind {
    Kind::RegisterStaff(RegisterStaff {
        public_key,
        role: role as i32,
    })
}

pub fn register_service(public_key: Vec<u8>, kind: ServiceKind) -> Kind {
    Kind::RegisterService(RegisterService {
        public_key,
        kind: kind as i32,
    })
}

pub fn clinician(addr: Vec<u8>) -> Option<Grantee> {
    Some(Grantee {
        kind: Some(grantee::Kind::Clinician(addr)),
    })
}

pub fn organisation(org: &str) -> Option<Grantee> {
    Some(Grantee {
        kind: Some(grantee::Kind::Organisation(org.to_string())),
    })
}

pub fn grant_to_clinician(
    patient: &impl Party,
    clinician_addr: Vec<u8>,
    categories: &[Category],
    access: AccessLevel,
    expires_at: i64,
) -> Kind {
    Kind::GrantAccess(GrantAccess {
        patient: patient.addr(),
        grantee: clinician(clinician_addr),
        categories: categories.iter().map(|c| *c as i32).collect(),
        access: access as i32,
        expires_at,
    })
}

pub fn record(id: &str, patient: &impl Party, category: Category) -> RecordRef {
    RecordRef {
        record_id: id.to_string(),
        patient: patient.addr(),
        category: category as i32,
        ciphertext_sha256: sha256(id.as_bytes()).to_vec(),
        size: 512,
        locator: format!("pg://records/{id}"),
    }
}

pub fn anchor(id: &str, patient: &impl Party, category: Category) -> Kind {
    Kind::AnchorRecord(AnchorRecord {
        record: Some(record(id, patient, category)),
    })
}

/// A fresh record id: orders and prescriptions each anchor their own record.
fn fresh_id(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{n}")
}

/// An order whose content (the test) is an encrypted labs record off chain.
pub fn order_lab(patient: &impl Party, lab_org: &str) -> Kind {
    Kind::OrderLabTest(OrderLabTest {
        patient: patient.addr(),
        lab_org: lab_org.into(),
        order: Some(record(&fresh_id("order"), patient, Category::Labs)),
    })
}

/// A prescription whose content (drug, dose, quantity) is an encrypted
/// medications record off chain.
pub fn prescribe(patient: &impl Party, refills: u32, valid_until: i64) -> Kind {
    Kind::Prescribe(Prescribe {
        patient: patient.addr(),
        refills,
        valid_until,
        content: Some(record(&fresh_id("rx"), patient, Category::Medications)),
    })
}

pub fn emergency(patient: &impl Party) -> Kind {
    Kind::OpenEmergencyAccess(OpenEmergencyAccess {
        patient: patient.addr(),
        reason: EmergencyReason::Unconscious as i32,
        justification: "brought in unconscious by ambulance".into(),
    })
}

pub fn bind_device(id: &str, device: &impl Party, patient: &impl Party) -> Kind {
    Kind::BindDevice(BindDevice {
        device_id: id.into(),
        public_key: device.public_key(),
        patient: patient.addr(),
    })
}

/// When the disclosures tests make were served (unix seconds).
pub const DISCLOSED_AT: i64 = 1_767_225_700;

/// `accessor`'s request to `gateway` as it signs it, at `at_secs`.
pub fn signed_request(
    accessor: &impl Party,
    gateway: &impl Party,
    path_and_query: &str,
    at_secs: i64,
) -> SignedRequest {
    let audience = ehr_ledger::crypto::Address::from_slice(&gateway.addr())
        .expect("20 bytes")
        .to_string();
    let timestamp = (at_secs * 1000).to_string();
    let nonce = hex::encode(
        &sha256(format!("{path_and_query}{at_secs}{}", fresh_id("n")).as_bytes())[..16],
    );
    let body_sha256 = sha256(b"").to_vec();
    let message = ehr_ledger::crypto::request::canonical(
        &audience,
        "GET",
        path_and_query,
        &timestamp,
        &nonce,
        &body_sha256,
    );
    SignedRequest {
        audience,
        method: "GET".into(),
        path_and_query: path_and_query.into(),
        timestamp,
        nonce,
        body_sha256,
        public_key: accessor.public_key(),
        signature: accessor.secret().sign(&message).to_vec(),
    }
}

/// A disclosure `gateway` logs of `patient`'s `category` records to
/// `accessor`, backed by the accessor's signed request for them (no purpose
/// named: treatment), with an outbox id of its own.
pub fn disclosure(
    gateway: &impl Party,
    accessor: &impl Party,
    patient: &impl Party,
    category: Category,
) -> Disclosure {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let patient_address =
        ehr_ledger::crypto::Address::from_slice(&patient.addr()).expect("20 bytes");
    let path = format!(
        "/v1/patients/{patient_address}/records?category={}",
        ehr_ledger::ledger::access::category_name(category)
    );
    Disclosure {
        accessor: accessor.addr(),
        patient: patient.addr(),
        record_ids: vec!["rec-1".into()],
        purpose: Purpose::Treatment as i32,
        disclosed_at: DISCLOSED_AT,
        category: category as i32,
        request: Some(signed_request(accessor, gateway, &path, DISCLOSED_AT)),
        outbox_id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    }
}

pub fn research_consent(patient: &impl Party, consent: bool) -> Kind {
    Kind::SetResearchConsent(SetResearchConsent {
        patient: patient.addr(),
        consent,
    })
}

pub fn propose(change: governance_change::Kind) -> Kind {
    Kind::Propose(Propose {
        change: Some(GovernanceChange { kind: Some(change) }),
    })
}

pub fn vote(proposal_id: u64, approve: bool) -> Kind {
    Kind::Vote(Vote {
        proposal_id,
        approve,
    })
}

/// `identity` replaces its key by `new_key` (signed by the current key).
pub fn rotate_key(identity: &impl Party, new_key: &SecretKey) -> Kind {
    let who = ehr_ledger::crypto::Address::from_slice(&identity.addr()).expect("an address");
    Kind::RotateKey(RotateKey {
        new_public_key: new_key.public_key().to_bytes().to_vec(),
        new_key_proof: ehr_ledger::ledger::actions::rotation::prove_binding(
            new_key,
            ehr_ledger::ledger::actions::rotation::Binding::Rotation,
            &who,
        ),
        participant: vec![],
    })
}

pub fn recovery_contacts(patient: &impl Party, contacts: &[&dyn Party], threshold: u32) -> Kind {
    Kind::SetRecoveryContacts(SetRecoveryContacts {
        patient: patient.addr(),
        contacts: contacts.iter().map(|c| c.addr()).collect(),
        threshold,
    })
}

/// Approves binding `new_key` to `patient` (a contact's or a front desk's).
pub fn approve_recovery(patient: &impl Party, new_key: &SecretKey) -> Kind {
    let who = ehr_ledger::crypto::Address::from_slice(&patient.addr()).expect("an address");
    Kind::ApproveRecovery(ApproveRecovery {
        patient: patient.addr(),
        new_public_key: new_key.public_key().to_bytes().to_vec(),
        new_key_proof: ehr_ledger::ledger::actions::rotation::prove_binding(
            new_key,
            ehr_ledger::ledger::actions::rotation::Binding::Recovery,
            &who,
        ),
    })
}

/// The patient asks for the amendment of `record_id`, why sealed in `request_id`.
pub fn request_amendment(
    patient: &impl Party,
    record_id: &str,
    request_id: &str,
    category: Category,
) -> Kind {
    Kind::RequestAmendment(RequestAmendment {
        record_id: record_id.into(),
        request: Some(record(request_id, patient, category)),
    })
}

pub fn accept_amendment(
    id: u64,
    patient: &impl Party,
    correction_id: &str,
    category: Category,
) -> Kind {
    Kind::AcceptAmendment(AcceptAmendment {
        amendment_id: id,
        correction: Some(record(correction_id, patient, category)),
    })
}

pub fn deny_amendment(id: u64, reason: DenialReason) -> Kind {
    Kind::DenyAmendment(DenyAmendment {
        amendment_id: id,
        reason: reason as i32,
        explanation: None,
    })
}

pub fn file_disagreement(
    id: u64,
    patient: &impl Party,
    statement_id: &str,
    category: Category,
) -> Kind {
    Kind::FileDisagreement(FileDisagreement {
        amendment_id: id,
        statement: Some(record(statement_id, patient, category)),
    })
}

/// Erases `categories` of the patient's records (none: `everything`).
pub fn erase(patient: &impl Party, categories: &[Category], basis: ErasureBasis) -> Kind {
    Kind::EraseRecords(EraseRecords {
        patient: patient.addr(),
        record_ids: vec![],
        categories: categories.iter().map(|c| *c as i32).collect(),
        everything: categories.is_empty(),
        basis: basis as i32,
        reference: if basis == ErasureBasis::LegalOrder {
            "order 2026/114 of the district court".into()
        } else {
            String::new()
        },
    })
}

pub fn legal_hold(patient: &impl Party, categories: &[Category], until: i64) -> Kind {
    Kind::SetLegalHold(SetLegalHold {
        patient: patient.addr(),
        categories: categories.iter().map(|c| *c as i32).collect(),
        until,
        reason: HoldReason::Litigation as i32,
        reference: "case 2026-CV-0114".into(),
    })
}

/// `signer`'s attestation of the app hash after block `height` of `chain_id`
/// (r‖s‖v, v = 27 or 28, as the checkpoint contract takes it).
pub fn attest(signer: &impl Party, chain_id: &str, height: u64, app_hash: [u8; 32]) -> Kind {
    let digest = ehr_ledger::crypto::checkpoint::checkpoint_digest(chain_id, height, &app_hash);
    let mut signature = signer.secret().sign_recoverable(&digest);
    signature[64] += 27;
    Kind::AttestCheckpoint(AttestCheckpoint {
        height,
        app_hash: app_hash.to_vec(),
        signature: signature.to_vec(),
    })
}
