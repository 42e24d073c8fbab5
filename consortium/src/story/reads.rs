//! Reads through the gateway, verified against the chain; emergency access;
//! a revoked grant; and the audit trail that shows every read.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;

use super::*;

impl Teller {
    /// Part 3: the read path — a granted read, a refused one, break-glass, a
    /// revocation, and the audit trail.
    pub fn reads(&mut self, c: &Cast) {
        println!("\nThe read path: records fetched, decrypted and verified; consent enforced");
        let p1 = c.patients[0].address();
        let p2 = c.patients[1 % c.patients.len()].address();
        self.expect_read(
            "the doctor reads patient-1's vitals through the gateway",
            &c.doctor,
            &p1,
            "GRANT",
        );
        self.expect_fhir_search(
            "General's EHR searches patient-1's vitals through its FHIR API, for the doctor",
            &p1,
        );
        self.expect_refusal(
            "North Clinic's doctor, with no grant, asks for patient-1's vitals",
            &c.er_doctor,
            &p1,
        );
        self.act(
            "North Clinic's doctor opens emergency access to patient-1 (unconscious)",
            &c.er_doctor,
            Kind::OpenEmergencyAccess(OpenEmergencyAccess {
                patient: p1.0.to_vec(),
                reason: EmergencyReason::Unconscious as i32,
                justification: "brought in unconscious; checking recent vitals".into(),
            }),
            Code::Ok,
        );
        self.expect_read(
            "North Clinic's doctor reads patient-1's vitals under emergency access",
            &c.er_doctor,
            &p1,
            "EMERGENCY",
        );
        self.act(
            "patient-2 revokes the doctor's access",
            &c.patients[1 % c.patients.len()],
            Kind::RevokeAccess(RevokeAccess {
                patient: p2.0.to_vec(),
                grantee: Some(Grantee {
                    kind: Some(grantee::Kind::Clinician(addr(&c.doctor))),
                }),
                categories: vec![],
            }),
            Code::Ok,
        );
        // Readers decide on the newest state a signed header proves: the
        // revocation counts once the block after its own is made.
        self.next_block();
        self.expect_refusal(
            "the doctor asks for patient-2's vitals after the revocation",
            &c.doctor,
            &p2,
        );
    }

    /// Checks patient-1's audit trail holds the doctor's read and the flagged
    /// emergency; prints it.
    pub fn audit(&mut self, c: &Cast) {
        let p1 = c.patients[0].address();
        let trail: AuditTrail = self
            .runtime
            .block_on(self.rpc.query(&format!("/audit/{p1}")))
            .ok()
            .flatten()
            .unwrap_or_default();
        println!("\npatient-1's audit trail on chain:");
        for e in &trail.items {
            println!("    {}", ehr_client::read_path::audit::describe(e));
        }
        let doctor_read = trail
            .items
            .iter()
            .any(|e| e.accessor == addr(&c.doctor) && e.basis == AccessBasis::Grant as i32);
        let emergency_read = trail.items.iter().any(|e| {
            e.accessor == addr(&c.er_doctor)
                && e.kind == AuditKind::Disclosure as i32
                && e.emergency
        });
        self.record(
            "patient-1's audit trail shows the doctor's read and the flagged emergency read",
            "both on chain",
            format!(
                "{} entries; doctor's read {doctor_read}, emergency read flagged {emergency_read}",
                trail.items.len()
            ),
            doctor_read && emergency_read,
        );
    }
}
