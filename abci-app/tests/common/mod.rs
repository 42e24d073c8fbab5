//! A four-hospital consortium with staff, services and patients, driven by the
//! mock consensus: each test gets its own chain in its own temporary folder.

#![allow(dead_code)]

use ehr_ledger::crypto::sha256;
use ehr_ledger::ledger::TxResult;
use ehr_ledger::mock_consensus::{consortium_genesis, Actor, TestNode};
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use prost::Message;
use tempfile::TempDir;

pub const CHAIN: &str = "ehr-test";
pub const ORGS: [&str; 4] = ["general", "north", "south", "east"];
pub const DAY: i64 = 24 * 60 * 60;

pub mod workload;

pub struct World {
    pub node: TestNode,
    pub admin: Actor,
    pub north_admin: Actor,
    pub south_admin: Actor,
    pub east_admin: Actor,
    pub doctor: Actor,
    pub nurse: Actor,
    pub pharmacist: Actor,
    pub lab_tech: Actor,
    pub north_lab_tech: Actor,
    pub north_doctor: Actor,
    pub ingest: Actor,
    pub gateway: Actor,
    pub alice: Actor,
    pub alice_guardian: Actor,
    pub bob: Actor,
    pub stranger: Actor,
    // Last: the chain's folder outlives the node (none when the caller owns it).
    pub dir: Option<TempDir>,
}

pub fn actor(seed: &str) -> Actor {
    Actor::new(seed, CHAIN)
}

impl World {
    /// Genesis plus one block registering staff, services and patients, in a
    /// temporary folder of its own.
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut w = World::at(dir.path());
        w.dir = Some(dir);
        w
    }

    /// The same, with the chain kept in `dir`.
    pub fn at(dir: &std::path::Path) -> World {
        let mut w = World::unregistered(dir);
        let txs = w.registration_txs();
        let result = w.node.block(txs).expect("registration block");
        for r in &result.tx_results {
            assert_eq!(r.code, Code::Ok, "set-up transaction refused: {}", r.log);
        }
        w
    }

    /// Genesis only: the cast exists but nobody is registered yet.
    pub fn unregistered(dir: &std::path::Path) -> World {
        let node = TestNode::init(&dir.join("ledger.redb"), CHAIN, &consortium_genesis(&ORGS))
            .expect("genesis");
        World {
            node,
            admin: actor("admin@general"),
            north_admin: actor("admin@north"),
            south_admin: actor("admin@south"),
            east_admin: actor("admin@east"),
            doctor: actor("doctor@general"),
            nurse: actor("nurse@general"),
            pharmacist: actor("pharmacist@general"),
            lab_tech: actor("labtech@general"),
            north_lab_tech: actor("labtech@north"),
            north_doctor: actor("doctor@north"),
            ingest: actor("ingest@general"),
            gateway: actor("gateway@general"),
            alice: actor("alice"),
            alice_guardian: actor("alice's mother"),
            bob: actor("bob"),
            stranger: actor("stranger"),
            dir: None,
        }
    }

    /// The first block: staff, services and patients registered.
    pub fn registration_txs(&mut self) -> Vec<Vec<u8>> {
        let mut txs = vec![];
        for (who, role) in [
            (self.doctor.public_key(), Role::Doctor),
            (self.nurse.public_key(), Role::Nurse),
            (self.pharmacist.public_key(), Role::Pharmacist),
            (self.lab_tech.public_key(), Role::LabTechnician),
        ] {
            txs.push(self.admin.tx(register_staff(who, role)));
        }
        txs.push(self.admin.tx(register_service(
            self.ingest.public_key(),
            ServiceKind::Ingest,
        )));
        txs.push(self.admin.tx(register_service(
            self.gateway.public_key(),
            ServiceKind::Gateway,
        )));
        txs.push(self.north_admin.tx(register_staff(
            self.north_lab_tech.public_key(),
            Role::LabTechnician,
        )));
        txs.push(
            self.north_admin
                .tx(register_staff(self.north_doctor.public_key(), Role::Doctor)),
        );
        for patient in [self.alice.public_key(), self.bob.public_key()] {
            txs.push(self.admin.tx(enroll(patient)));
        }
        txs.push(self.alice.tx(Kind::RegisterPatient(RegisterPatient {
            guardian_public_key: self.alice_guardian.public_key(),
        })));
        txs.push(
            self.bob
                .tx(Kind::RegisterPatient(RegisterPatient::default())),
        );
        txs
    }

    pub fn now(&self) -> i64 {
        self.node.time
    }

    /// Delivers `tx` in its own block and insists it is accepted.
    pub fn ok(&mut self, tx: Vec<u8>) -> TxResult {
        let r = self.node.deliver(tx);
        assert_eq!(r.code, Code::Ok, "expected acceptance, got: {}", r.log);
        r
    }

    /// Delivers `tx` in its own block and insists it is refused with `code`.
    pub fn refused(&mut self, tx: Vec<u8>, code: Code) -> TxResult {
        let r = self.node.deliver(tx);
        assert_eq!(
            r.code, code,
            "expected {code}, got {} with log: {}",
            r.code, r.log
        );
        assert!(!r.log.is_empty(), "a refusal must say why");
        r
    }

    /// Decodes the answer of a query that must succeed.
    pub fn query<M: Message + Default>(&self, path: &str) -> M {
        let a = self.node.query(path);
        assert_eq!(
            a.code,
            ehr_ledger::ledger::QueryCode::Ok,
            "query {path}: {}",
            a.log
        );
        M::decode(a.value.as_slice()).expect("query answer decodes")
    }

    pub fn access(&self, patient: &Actor, accessor: &Actor, category: &str) -> AccessDecision {
        self.query(&format!(
            "/access/{}/{}/{category}",
            patient.address(),
            accessor.address()
        ))
    }

    pub fn grant(
        &mut self,
        doctor_addr: Vec<u8>,
        categories: &[Category],
        access: AccessLevel,
        expires_at: i64,
    ) -> Vec<u8> {
        let g = grant_to_clinician(&self.alice, doctor_addr, categories, access, expires_at);
        self.alice.tx(g)
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
    patient: &Actor,
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

pub fn record(id: &str, patient: &Actor, category: Category) -> RecordRef {
    RecordRef {
        record_id: id.to_string(),
        patient: patient.addr(),
        category: category as i32,
        ciphertext_sha256: sha256(id.as_bytes()).to_vec(),
        size: 512,
        locator: format!("pg://records/{id}"),
    }
}

pub fn anchor(id: &str, patient: &Actor, category: Category) -> Kind {
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
pub fn order_lab(patient: &Actor, lab_org: &str) -> Kind {
    Kind::OrderLabTest(OrderLabTest {
        patient: patient.addr(),
        lab_org: lab_org.into(),
        order: Some(record(&fresh_id("order"), patient, Category::Labs)),
    })
}

/// A prescription whose content (drug, dose, quantity) is an encrypted
/// medications record off chain.
pub fn prescribe(patient: &Actor, refills: u32, valid_until: i64) -> Kind {
    Kind::Prescribe(Prescribe {
        patient: patient.addr(),
        refills,
        valid_until,
        content: Some(record(&fresh_id("rx"), patient, Category::Medications)),
    })
}

pub fn emergency(patient: &Actor) -> Kind {
    Kind::OpenEmergencyAccess(OpenEmergencyAccess {
        patient: patient.addr(),
        reason: EmergencyReason::Unconscious as i32,
        justification: "brought in unconscious by ambulance".into(),
    })
}

pub fn bind_device(id: &str, device: &Actor, patient: &Actor) -> Kind {
    Kind::BindDevice(BindDevice {
        device_id: id.into(),
        public_key: device.public_key(),
        patient: patient.addr(),
    })
}

pub fn disclosure(accessor: &Actor, patient: &Actor, category: Category) -> Disclosure {
    Disclosure {
        accessor: accessor.addr(),
        patient: patient.addr(),
        record_ids: vec!["rec-1".into()],
        purpose: Purpose::Treatment as i32,
        disclosed_at: 1_767_225_700,
        category: category as i32,
    }
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

/// The value of attribute `key` in the first event of `kind`.
pub fn event_attr(r: &TxResult, kind: &str, key: &str) -> Option<String> {
    r.events
        .iter()
        .filter(|e| e.kind == kind)
        .flat_map(|e| e.attributes.iter())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}
