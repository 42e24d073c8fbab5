//! The clinic: a lab order and its result, a prescription dispensed until it
//! is exhausted, and the refusals the role rules give.

use ehr_client::read_path::demographics::{Demographics, Mrn};
use ehr_client::read_path::documents::Content;
use ehr_client::record_encryption::{encrypt_record, DataKey};
use ehr_ledger::crypto::sha256;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;

use super::*;

/// Given and family names for the story's patients (patient-n is the n-th
/// pair, the family names shifted so that no two patients share both).
const GIVEN: [&str; 8] = [
    "Amara", "Jonas", "Lucía", "Mei", "Tomasz", "Fatima", "Liam", "Anika",
];
const FAMILY: [&str; 6] = ["Okafor", "Berg", "Fernández", "Chen", "Nowak", "Haddad"];

/// Patient `i`'s demographics in the story: a name, a birth date and
/// General's medical record number.
pub fn demographics_of(i: usize) -> Demographics {
    Demographics {
        given: vec![GIVEN[i % GIVEN.len()].to_string()],
        family: FAMILY[(i + i / GIVEN.len()) % FAMILY.len()].to_string(),
        birth_date: Some(format!(
            "{}-{:02}-{:02}",
            1940 + (i * 7) % 60,
            1 + (i * 5) % 12,
            1 + (i * 11) % 28
        )),
        gender: Some(["female", "male"][i % 2].to_string()),
        mrns: vec![Mrn {
            organisation: "general".into(),
            value: format!("G-{:05}", 1000 + i),
        }],
    }
}

impl Teller {
    /// General's front desk seals who each patient it enrolled is (sealed
    /// off chain, the hash anchored), so readers see names, not keys.
    fn front_desk(&mut self, c: &Cast) {
        let general = &c.admins[0];
        for (i, p) in c.patients.iter().enumerate() {
            let title = format!(
                "General's front desk seals patient-{}'s name, birth date and record number",
                i + 1
            );
            let content = Content::Demographics(demographics_of(i));
            if let Some(record) = self.document(&title, general, p, content) {
                self.act(
                    &title,
                    general,
                    Kind::AnchorRecord(AnchorRecord {
                        record: Some(record),
                    }),
                    Code::Ok,
                );
            }
        }
    }

    /// Part 2: a lab order and its result, a prescription dispensed, and what
    /// the role rules refuse.
    pub fn clinic(&mut self, c: &Cast) {
        println!("\nThe clinic: a lab order and its result, a prescription, the role rules");
        self.front_desk(c);
        let p1 = &c.patients[0];
        self.act(
            "patient-1 lets the doctor write lab orders and prescriptions for 30 days",
            p1,
            Kind::GrantAccess(GrantAccess {
                patient: addr(p1),
                grantee: Some(Grantee {
                    kind: Some(grantee::Kind::Clinician(addr(&c.doctor))),
                }),
                categories: vec![Category::Labs as i32, Category::Medications as i32],
                access: AccessLevel::Write as i32,
                expires_at: crate::fleet::now_ms() / 1000 + 30 * 86_400,
            }),
            Code::Ok,
        );
        self.act(
            "patient-1 chooses General's lab and pharmacy: they may read her labs and medications",
            p1,
            Kind::GrantAccess(GrantAccess {
                patient: addr(p1),
                grantee: Some(Grantee {
                    kind: Some(grantee::Kind::Organisation("general".into())),
                }),
                categories: vec![Category::Labs as i32, Category::Medications as i32],
                access: AccessLevel::Read as i32,
                expires_at: crate::fleet::now_ms() / 1000 + 30 * 86_400,
            }),
            Code::Ok,
        );
        // What is ordered is encrypted by the doctor's client and stored with
        // the gateway; the chain anchors its hash only.
        let glucose = Content::LabOrder {
            test_code: "2345-7".into(),
            lab_org: "general".into(),
        };
        let title = "the doctor orders a glucose test (LOINC 2345-7, sealed off chain) for patient-1 at General's lab";
        let order = self.document(title, &c.doctor, p1, glucose.clone());
        let ordered = order.and_then(|order| {
            self.act(
                title,
                &c.doctor,
                Kind::OrderLabTest(OrderLabTest {
                    patient: addr(p1),
                    lab_org: "general".into(),
                    order: Some(order),
                }),
                Code::Ok,
            )
        });
        let title = "the nurse tries to order a lab test";
        if let Some(order) = self.document(title, &c.doctor, p1, glucose) {
            self.act(
                title,
                &c.nurse,
                Kind::OrderLabTest(OrderLabTest {
                    patient: addr(p1),
                    lab_org: "general".into(),
                    order: Some(order),
                }),
                Code::WrongRole,
            );
        }
        let order_id = ordered
            .as_ref()
            .and_then(|r| r.attribute("lab_ordered", "order_id"))
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        // The lab's report stays in the lab's system, encrypted; its hash is anchored.
        let record_id = format!("lab-general-{order_id}");
        let report = encrypt_record(&DataKey::generate(), &record_id, b"glucose 5.4 mmol/L");
        let result = RecordRef {
            record_id: record_id.clone(),
            patient: addr(p1),
            category: Category::Labs as i32,
            ciphertext_sha256: sha256(&report).to_vec(),
            size: report.len() as u64,
            locator: format!("lab://general/reports/{record_id}"),
        };
        self.act(
            "the pharmacist tries to post the lab result",
            &c.pharmacist,
            Kind::PostLabResult(PostLabResult {
                order_id,
                record: Some(result.clone()),
            }),
            Code::WrongRole,
        );
        self.act(
            "the lab technician posts the result (its hash anchored on chain)",
            &c.lab,
            Kind::PostLabResult(PostLabResult {
                order_id,
                record: Some(result),
            }),
            Code::Ok,
        );
        let amlodipine = Content::Prescription {
            drug_code: "197361".into(),
            dose: "5".into(),
            unit: "mg".into(),
            quantity: 30,
            refills: 0,
        };
        let prescription = |content: RecordRef| {
            Kind::Prescribe(Prescribe {
                patient: addr(p1),
                refills: 0,
                valid_until: crate::fleet::now_ms() / 1000 + 90 * 86_400,
                content: Some(content),
            })
        };
        let title = "the doctor prescribes amlodipine 5 mg × 30 (sealed off chain) for patient-1, no refills";
        let prescribed = self
            .document(title, &c.doctor, p1, amlodipine.clone())
            .and_then(|rx| self.act(title, &c.doctor, prescription(rx), Code::Ok));
        let title = "the nurse tries to prescribe";
        if let Some(rx) = self.document(title, &c.doctor, p1, amlodipine) {
            self.act(title, &c.nurse, prescription(rx), Code::WrongRole);
        }
        let prescription_id = prescribed
            .as_ref()
            .and_then(|r| r.attribute("prescribed", "prescription_id"))
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        self.act(
            "the pharmacist dispenses it",
            &c.pharmacist,
            Kind::Dispense(Dispense { prescription_id }),
            Code::Ok,
        );
        self.act(
            "the pharmacist tries to dispense it a second time",
            &c.pharmacist,
            Kind::Dispense(Dispense { prescription_id }),
            Code::PrescriptionExhausted,
        );
    }
}
