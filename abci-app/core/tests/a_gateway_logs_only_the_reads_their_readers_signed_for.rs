//! A gateway writes a read into a patient's trail only with the reader's
//! signed request for it: signed by the reader, addressed to that gateway,
//! asking for that patient's records of that category with that purpose,
//! near the time served. A read attributed to someone who did not ask, moved
//! to another patient, another category or purpose, addressed to another
//! gateway, too old, or with a request altered after signing is refused with
//! the reason and leaves the trail as it was. Each disclosure is logged once
//! by its gateway's id of it (another under a used id is refused); a purpose that does not fit the basis is kept
//! and flagged.

use ehr_ledger::mock_consensus::Actor;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

fn path(patient: &impl Party, query: &str) -> String {
    let a = ehr_ledger::crypto::Address::from_slice(&patient.addr()).unwrap();
    format!("/v1/patients/{a}/records?{query}")
}

/// A disclosure of alice's vitals to `reader` under `request`.
fn read_by(w: &World, reader: &Actor, request: SignedRequest, outbox_id: u64) -> Disclosure {
    Disclosure {
        accessor: reader.addr(),
        patient: w.alice.addr(),
        record_ids: vec!["hr-1:1".into()],
        purpose: Purpose::PatientRequest as i32,
        disclosed_at: DISCLOSED_AT,
        category: Category::Vitals as i32,
        request: Some(request),
        outbox_id,
    }
}

fn log(d: Disclosure) -> Kind {
    Kind::LogDisclosures(LogDisclosures {
        disclosures: vec![d],
    })
}

/// `request` signed again by `who` with `method`.
fn resigned(who: &Actor, method: &str, request: SignedRequest) -> SignedRequest {
    let message = ehr_ledger::crypto::request::canonical(
        &request.audience,
        method,
        &request.path_and_query,
        &request.timestamp,
        &request.nonce,
        &request.body_sha256,
    );
    SignedRequest {
        method: method.into(),
        signature: who.key.sign(&message).to_vec(),
        ..request
    }
}

fn trail(w: &World) -> Vec<AuditEntry> {
    w.query::<AuditTrail>(&format!("/audit/{}", w.alice.address()))
        .items
}

#[test]
fn a_gateway_logs_only_the_reads_their_readers_signed_for() {
    let mut w = World::new();
    let asked = |w: &World, who: &Actor, query: &str| {
        signed_request(who, &w.gateway, &path(&w.alice, query), DISCLOSED_AT)
    };

    // Alice reads her vitals: logged, bound to her request and the row's id.
    let honest = read_by(
        &w,
        &w.alice,
        asked(&w, &w.alice, "category=vitals&purpose=patient_request"),
        1,
    );
    let tx = w.gateway.tx(log(honest.clone()));
    w.ok(tx);
    let entries = trail(&w);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].outbox_id, 1);
    assert_eq!(entries[0].request_sha256.len(), 32);
    assert!(!entries[0].purpose_unfit);
    assert_eq!(entries[0].basis, AccessBasis::Patient as i32);

    // Sent again (the gateway never saw it commit): skipped, the trail keeps one.
    let tx = w.gateway.tx(log(honest.clone()));
    w.ok(tx);
    assert_eq!(trail(&w).len(), 1, "each disclosure once");
    // Another read under an id already logged (an outbox restored from a
    // backup numbers again from an old id): refused, not silently dropped.
    let reused = read_by(&w, &w.alice, asked(&w, &w.alice, "category=vitals"), 1);
    let tx = w.gateway.tx(log(reused));
    let r = w.refused(tx, Code::UnrequestedDisclosure);
    assert!(
        r.log.contains("already logged for another disclosure"),
        "{}",
        r.log
    );

    // Each lie refused, with its reason.
    let other_gateway = actor("gateway@north");
    let lies: Vec<(&str, Disclosure, &str)> = vec![
        (
            "a read attributed to the doctor, signed by bob",
            Disclosure {
                accessor: w.doctor.addr(),
                ..read_by(&w, &w.bob, asked(&w, &w.bob, "category=vitals"), 2)
            },
            "not by a key of the accessor",
        ),
        (
            "alice's request for her records logged as a read of bob's",
            Disclosure {
                patient: w.bob.addr(),
                ..read_by(&w, &w.alice, asked(&w, &w.alice, "category=vitals"), 3)
            },
            "does not ask for this patient's records",
        ),
        (
            "a request to another gateway",
            read_by(
                &w,
                &w.alice,
                signed_request(
                    &w.alice,
                    &other_gateway,
                    &path(&w.alice, "category=vitals"),
                    DISCLOSED_AT,
                ),
                4,
            ),
            "not to",
        ),
        (
            "a request for vitals logged as labs",
            Disclosure {
                category: Category::Labs as i32,
                ..read_by(&w, &w.alice, asked(&w, &w.alice, "category=vitals"), 5)
            },
            "asked for vitals records, not labs",
        ),
        (
            "a declared purpose changed",
            Disclosure {
                purpose: Purpose::Payment as i32,
                ..read_by(
                    &w,
                    &w.alice,
                    asked(&w, &w.alice, "category=vitals&purpose=patient_request"),
                    6,
                )
            },
            "declared the purpose patient_request, not payment",
        ),
        (
            "a purpose nobody declared",
            Disclosure {
                purpose: Purpose::Operations as i32,
                ..read_by(&w, &w.alice, asked(&w, &w.alice, "category=vitals"), 7)
            },
            "declared no purpose",
        ),
        (
            "a request of another day",
            read_by(
                &w,
                &w.alice,
                signed_request(
                    &w.alice,
                    &w.gateway,
                    &path(&w.alice, "category=vitals"),
                    DISCLOSED_AT - 86_400,
                ),
                8,
            ),
            "more than 600 s",
        ),
        (
            "a request altered after it was signed",
            read_by(
                &w,
                &w.alice,
                SignedRequest {
                    path_and_query: path(&w.alice, "category=all"),
                    ..asked(&w, &w.alice, "category=vitals")
                },
                9,
            ),
            "does not verify",
        ),
        (
            "an upload, which discloses nothing",
            read_by(
                &w,
                &w.alice,
                resigned(&w.alice, "POST", asked(&w, &w.alice, "category=vitals")),
                10,
            ),
            "discloses nothing",
        ),
    ];
    for (what, d, reason) in lies {
        let tx = w.gateway.tx(log(d));
        let r = w.refused(tx, Code::UnrequestedDisclosure);
        assert!(r.log.contains(reason), "{what}: {}", r.log);
    }
    assert_eq!(trail(&w).len(), 1, "no lie reached the trail");

    // Without any request, or without an id: malformed.
    for d in [
        Disclosure {
            request: None,
            ..honest.clone()
        },
        Disclosure {
            outbox_id: 0,
            ..honest.clone()
        },
    ] {
        let tx = w.gateway.tx(log(d));
        w.refused(tx, Code::InvalidField);
        // Malformed before any rule runs: the nonce was not used.
        w.gateway.nonce -= 1;
    }

    // A purpose that does not fit the basis is kept, and flagged: alice
    // declares treatment for reading her own records.
    let unfit = Disclosure {
        purpose: Purpose::Treatment as i32,
        ..read_by(
            &w,
            &w.alice,
            asked(&w, &w.alice, "category=vitals&purpose=treatment"),
            11,
        )
    };
    let tx = w.gateway.tx(log(unfit));
    w.ok(tx);
    let entries = trail(&w);
    assert_eq!(entries.len(), 2);
    assert!(entries[1].purpose_unfit, "{:?}", entries[1]);
}
