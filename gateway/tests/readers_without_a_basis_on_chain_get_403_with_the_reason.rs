//! The gateway asks the chain at every request: a nurse without a grant is
//! refused; a revoked grant refuses once the block after the revocation
//! proves it (the state after a block is proven by the next header); an
//! expired grant refuses; another patient is refused. Each 403 says why.

use std::time::Duration;

use ehr_client::read_path::client::RecordsQuery;
use ehr_ledger::proto::{action::Kind, *};
use ehr_testkit::stack::*;

fn grant(s: &Stack, who: &ehr_ledger::crypto::SecretKey, expires_at: i64) {
    s.node.send(
        &s.cast.alice,
        Kind::GrantAccess(GrantAccess {
            patient: s.cast.alice.address().0.to_vec(),
            grantee: Some(Grantee {
                kind: Some(grantee::Kind::Clinician(who.address().0.to_vec())),
            }),
            categories: vec![Category::Vitals as i32],
            access: AccessLevel::Read as i32,
            expires_at,
        }),
    );
}

#[test]
fn readers_without_a_basis_on_chain_get_403_with_the_reason() {
    let s = Stack::start();
    s.alice_heart_rates(3);
    let alice = s.cast.alice.address();
    let vitals = RecordsQuery::category("vitals");
    let refusal = |k: &ehr_ledger::crypto::SecretKey| {
        s.block_on(s.client(k).records(&alice, &vitals))
            .expect_err("refused")
    };

    // A nurse with no grant.
    let e = refusal(&s.nurse);
    match &e {
        ehr_client::read_path::client::GatewayError::Refused {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 403);
            assert_eq!(code, "access_denied");
            assert!(
                message.contains("no current read grant for vitals"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The CLI says so, and exits non-zero.
    let out = s.ehr(&["fetch", "--as", "nurse", "--patient", &alice.to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("access_denied"), "{}", stderr(&out));

    // Another patient.
    assert_eq!(refusal(&s.cast.bob).code(), Some("access_denied"));

    // The nurse is granted, reads, then alice revokes: refused as soon as a
    // header proves the state after the revocation, and from then on.
    grant(&s, &s.nurse, 4_102_444_800);
    let page = s
        .block_on(s.client(&s.nurse).records(&alice, &vitals))
        .unwrap();
    assert_eq!(page.records.len(), 3);
    assert_eq!(page.basis, "GRANT");
    s.node.send(
        &s.cast.alice,
        Kind::RevokeAccess(RevokeAccess {
            patient: alice.0.to_vec(),
            grantee: Some(Grantee {
                kind: Some(grantee::Kind::Clinician(s.nurse.address().0.to_vec())),
            }),
            categories: vec![],
        }),
    );
    assert!(wait_until(Duration::from_secs(10), || {
        s.block_on(s.client(&s.nurse).records(&alice, &vitals))
            .is_err()
    }));
    assert_eq!(refusal(&s.nurse).code(), Some("access_denied"));

    // A grant that expires a few seconds from the chain's time: readable, then not.
    let now: i64 = s
        .node
        .query::<ChainInfo>("/chain")
        .map(|c| c.block_time)
        .unwrap();
    grant(&s, &s.doctor2, now + 4);
    let page = s
        .block_on(s.client(&s.doctor2).records(&alice, &vitals))
        .unwrap();
    assert_eq!(page.records.len(), 3);
    assert!(wait_until(Duration::from_secs(30), || {
        s.block_on(s.client(&s.doctor2).records(&alice, &vitals))
            .is_err()
    }));
    let e = refusal(&s.doctor2);
    assert_eq!(e.code(), Some("access_denied"));
    assert!(e.to_string().contains("no current read grant"), "{e}");

    // A category the grant does not cover.
    let labs = RecordsQuery::category("labs");
    let e = s
        .block_on(s.client(&s.cast.doctor).records(&alice, &labs))
        .expect_err("labs not granted");
    assert_eq!(e.code(), Some("access_denied"));

    // Nothing refused was disclosed: the nurse's one served read, none of bob's
    // or of the doctor's refused labs.
    let count = |who: &ehr_ledger::crypto::SecretKey| {
        s.db.count(&format!(
            "SELECT count(*) FROM gateway.disclosures WHERE accessor = '{}'",
            who.address()
        ))
    };
    // (Reads between the revocation's block and the header that proves it
    // are served, and logged.)
    assert!(count(&s.nurse) >= 1);
    assert_eq!(count(&s.cast.bob), 0);
    assert_eq!(count(&s.cast.doctor), 0);
    assert!(count(&s.doctor2) >= 1);
}
