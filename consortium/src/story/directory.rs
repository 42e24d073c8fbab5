//! The code directory on chain, in the story: the members retire a LOINC
//! code by governance (North proposes, General and South approve: three of
//! four), and a reading a device sends with it afterwards is refused by
//! ingest, with a sentence naming the proposal.

use std::time::{Duration, Instant};

use ehr_ledger::proto::governance_change::Kind as Change;
use ehr_testkit::actions;

use super::*;

/// Systolic blood pressure: in the genesis' directory, sent by no device of
/// the fleet, so retiring it stops none of their readings.
const RETIRED: &str = "8480-6";

impl Teller {
    /// A code retired by governance, and a reading with it refused.
    /// `publish` sends a signed reading to the brokers; `refusal` is ingest's
    /// recorded reason for refusing a reading of the device, when it has one.
    pub fn code_directory(
        &mut self,
        c: &Cast,
        publish: impl Fn(&Reading, &SecretKey) -> Result<(), crate::Error>,
        mut refusal: impl FnMut(&str) -> Option<String>,
    ) {
        println!("\nThe code directory on chain: a code retired by governance, and a reading that carries it");
        let change = Change::RetireCode(RetireCode {
            system: CodeSystem::Loinc as i32,
            code: RETIRED.into(),
            reason: "blood pressure is recorded as a panel from now on".into(),
            replaced_by: String::new(),
        });
        let proposed = self.act(
            &format!("North's admin proposes retiring LOINC {RETIRED} (systolic blood pressure)"),
            &c.admins[1],
            actions::propose(change),
            Code::Ok,
        );
        let Some(id) = proposed
            .as_ref()
            .and_then(|r| r.attribute("proposal", "id"))
            .and_then(|id| id.parse::<u64>().ok())
        else {
            return;
        };
        let mut decided = None;
        for (i, who) in [(0, "General"), (2, "South")] {
            decided = self.act(
                &format!("{who}'s admin approves proposal {id}: three of four members, and the code is retired"),
                &c.admins[i],
                actions::vote(id, true),
                Code::Ok,
            );
        }
        if decided.is_none() {
            return;
        }
        // Ingest decides on the newest state a header proves, a block behind
        // the newest block: the reading is sent once that state holds the
        // retirement (a reading measured in the retiring block's own second
        // may still be taken; docs/ingest.md).
        self.next_block();
        self.next_block();
        let device = &c.devices[0];
        let reading = Reading {
            device_id: device.id.clone(),
            // Far above the fleet's numbering of the device's readings.
            seq: 1 << 40,
            measured_at_ms: crate::fleet::now_ms(),
            loinc: RETIRED.into(),
            value: 120.0,
            unit: "mm[Hg]".into(),
        };
        let title = format!(
            "{} sends a systolic pressure measured now, with the retired code",
            device.id
        );
        if let Err(e) = publish(&reading, &device.key) {
            self.record(&title, "retired_code", format!("not sent: {e}"), false);
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let (got, ok) = loop {
            if let Some(why) = refusal(&device.id) {
                break (format!("refused by ingest: {why}"), true);
            }
            if Instant::now() > deadline {
                break (
                    "no refusal recorded by ingest within 30 s".to_string(),
                    false,
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        self.record(&title, "retired_code", got, ok);
    }
}
