//! A four-hospital consortium with staff, services and patients, driven by the
//! mock consensus: each test gets its own chain in its own temporary folder.
//! `workload` is a deterministic stream of blocks over that cast.

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

pub use crate::actions::*;

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

impl Default for World {
    fn default() -> World {
        World::new()
    }
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

/// The value of attribute `key` in the first event of `kind`.
pub fn event_attr(r: &TxResult, kind: &str, key: &str) -> Option<String> {
    r.events
        .iter()
        .filter(|e| e.kind == kind)
        .flat_map(|e| e.attributes.iter())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}
