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
        chain.send(
            &c.admin,
            register_service(pk(&c.ingest), ServiceKind::Ingest),
        );
        chain.send(&c.admin, register_staff(pk(&c.doctor), Role::Doctor));
        for p in [&c.alice, &c.bob] {
            chain.send(&c.admin, enroll(pk(p)));
            chain.send(p, Kind::RegisterPatient(RegisterPatient::default()));
        }
        chain.send(&c.alice, research_consent(&c.alice, true));
        chain.send(
            &c.alice,
            grant_to_clinician(
                &c.alice,
                c.doctor.addr(),
                &[Category::Vitals],
                AccessLevel::Read,
                4_102_444_800,
            ),
        );
        chain.send(&c.alice, bind_device("hr-1", &c.hr, &c.alice));
        chain.send(&c.bob, bind_device("spo2-1", &c.spo2, &c.bob));
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
