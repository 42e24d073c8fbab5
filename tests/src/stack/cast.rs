//! The people and devices of the off-chain tests, registered on a chain,
//! and readings of their devices.

use super::*;

pub struct Cast {
    pub admin: SecretKey,
    pub ingest: SecretKey,
    pub doctor: SecretKey,
    pub alice: SecretKey,
    pub bob: SecretKey,
    pub hr: SecretKey,
    pub spo2: SecretKey,
}

pub fn key(seed: &str) -> SecretKey {
    SecretKey::from_seed(seed)
}

impl Cast {
    /// Registers the ingest service and a doctor, two patients (alice consents
    /// to research and grants the doctor her vitals) and a device each.
    pub fn register(chain: &impl Submit) -> Cast {
        let c = Cast {
            admin: key("admin@general"),
            ingest: key("ingest@general"),
            doctor: key("doctor@general"),
            alice: key("alice"),
            bob: key("bob"),
            hr: key("device hr-1"),
            spo2: key("device spo2-1"),
        };
        let pk = |k: &SecretKey| k.public_key().to_bytes().to_vec();
        chain.send(
            &c.admin,
            Kind::RegisterService(RegisterService {
                public_key: pk(&c.ingest),
                kind: ServiceKind::Ingest as i32,
            }),
        );
        chain.send(
            &c.admin,
            Kind::RegisterStaff(RegisterStaff {
                public_key: pk(&c.doctor),
                role: Role::Doctor as i32,
            }),
        );
        chain.send(
            &c.admin,
            Kind::EnrollPatient(EnrollPatient {
                public_keys: vec![pk(&c.alice), pk(&c.bob)],
            }),
        );
        for p in [&c.alice, &c.bob] {
            chain.send(p, Kind::RegisterPatient(RegisterPatient::default()));
        }
        chain.send(
            &c.alice,
            Kind::SetResearchConsent(SetResearchConsent {
                patient: c.alice.address().0.to_vec(),
                consent: true,
            }),
        );
        chain.send(
            &c.alice,
            Kind::GrantAccess(GrantAccess {
                patient: c.alice.address().0.to_vec(),
                grantee: Some(Grantee {
                    kind: Some(grantee::Kind::Clinician(c.doctor.address().0.to_vec())),
                }),
                categories: vec![Category::Vitals as i32],
                access: AccessLevel::Read as i32,
                expires_at: 4_102_444_800,
            }),
        );
        chain.send(
            &c.alice,
            Kind::BindDevice(BindDevice {
                device_id: "hr-1".into(),
                public_key: pk(&c.hr),
                patient: c.alice.address().0.to_vec(),
            }),
        );
        chain.send(
            &c.bob,
            Kind::BindDevice(BindDevice {
                device_id: "spo2-1".into(),
                public_key: pk(&c.spo2),
                patient: c.bob.address().0.to_vec(),
            }),
        );
        c
    }
}

pub use ehr_client::service::now_ms;

pub fn heart_rate(seq: u64, value: f64) -> Reading {
    Reading {
        device_id: "hr-1".into(),
        seq,
        measured_at_ms: now_ms() - 1000,
        loinc: "8867-4".into(),
        value,
        unit: "/min".into(),
    }
}

pub fn spo2(seq: u64, value: f64) -> Reading {
    Reading {
        device_id: "spo2-1".into(),
        seq,
        measured_at_ms: now_ms() - 1000,
        loinc: "59408-5".into(),
        value,
        unit: "%".into(),
    }
}
