//! The first chapter: hospitals register their staff and services, patients
//! register, bind their devices and grant their doctor, some consent to research.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;

use super::*;

impl Teller {
    /// Part 1: the hospitals register their staff and services; patients
    /// register, bind their devices and consent.
    pub fn onboarding(&mut self, c: &Cast) {
        println!("\nThe hospitals register their people and services; patients join");
        let general = &c.admins[0];
        for (who, k, role) in [
            ("a doctor", &c.doctor, Role::Doctor),
            ("a nurse", &c.nurse, Role::Nurse),
            ("a pharmacist", &c.pharmacist, Role::Pharmacist),
            ("a lab technician", &c.lab, Role::LabTechnician),
        ] {
            self.act(
                &format!("General Hospital registers {who}"),
                general,
                Kind::RegisterStaff(RegisterStaff {
                    public_key: pk(k),
                    role: role as i32,
                }),
                Code::Ok,
            );
        }
        for (title, admin, doctor) in [
            ("North Clinic registers an emergency doctor", &c.admins[1], &c.er_doctor),
            (
                "South Medical Centre registers a doctor (no patient of the story grants him anything)",
                &c.admins[2],
                &c.visiting_doctor,
            ),
        ] {
            self.act(
                title,
                admin,
                Kind::RegisterStaff(RegisterStaff {
                    public_key: pk(doctor),
                    role: Role::Doctor as i32,
                }),
                Code::Ok,
            );
        }
        for (what, k, kind) in [
            ("its ingest service", &c.ingest, ServiceKind::Ingest),
            ("its record gateway", &c.gateway, ServiceKind::Gateway),
        ] {
            if self.registered_service(k) {
                self.record(
                    &format!(
                        "General Hospital's {} is registered",
                        what.trim_start_matches("its ")
                    ),
                    "registered",
                    "registered already (a consortium already running)".into(),
                    true,
                );
                continue;
            }
            self.act(
                &format!("General Hospital registers {what}"),
                general,
                Kind::RegisterService(RegisterService {
                    public_key: pk(k),
                    kind: kind as i32,
                }),
                Code::Ok,
            );
        }
        self.act(
            "the nurse tries to register a new doctor",
            &c.nurse,
            Kind::RegisterStaff(RegisterStaff {
                public_key: pk(&c.patients[0]),
                role: Role::Doctor as i32,
            }),
            Code::WrongRole,
        );
        self.act(
            "patient-1 tries to register before any hospital enrolled her",
            &c.patients[0],
            Kind::RegisterPatient(RegisterPatient::default()),
            Code::NotEnrolled,
        );
        self.act(
            &format!(
                "General's front desk enrolls the {} patients' keys",
                c.patients.len()
            ),
            general,
            Kind::EnrollPatient(EnrollPatient {
                public_keys: c.patients.iter().map(pk).collect(),
            }),
            Code::Ok,
        );
        for (i, (p, d)) in c.patients.iter().zip(&c.devices).enumerate() {
            let n = i + 1;
            // Patient-3 registers with a guardian who may act for her.
            let guardian_public_key = if n == 3 { pk(&c.guardian) } else { vec![] };
            self.act(
                &if guardian_public_key.is_empty() {
                    format!("patient-{n} registers")
                } else {
                    format!("patient-{n} registers, naming her guardian")
                },
                p,
                Kind::RegisterPatient(RegisterPatient {
                    guardian_public_key,
                }),
                Code::Ok,
            );
            self.act(
                &format!("patient-{n} binds device {}", d.id),
                p,
                Kind::BindDevice(BindDevice {
                    device_id: d.id.clone(),
                    public_key: pk(&d.key),
                    patient: addr(p),
                }),
                Code::Ok,
            );
            self.act(
                &format!("patient-{n} grants the doctor their vitals for 30 days"),
                p,
                Kind::GrantAccess(GrantAccess {
                    patient: addr(p),
                    grantee: Some(Grantee {
                        kind: Some(grantee::Kind::Clinician(addr(&c.doctor))),
                    }),
                    categories: vec![Category::Vitals as i32],
                    access: AccessLevel::Read as i32,
                    expires_at: crate::fleet::now_ms() / 1000 + 30 * 86_400,
                }),
                Code::Ok,
            );
            if c.consents_to_research(i) {
                self.act(
                    &format!("patient-{n} consents to research on their de-identified data"),
                    p,
                    Kind::SetResearchConsent(SetResearchConsent {
                        patient: addr(p),
                        consent: true,
                    }),
                    Code::Ok,
                );
            }
        }
    }
}
