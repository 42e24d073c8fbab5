//! A patient grants her vitals to a hospital with more staff than a list
//! page holds: ingest walks every page of the staff list and wraps the data
//! key of her new readings for every one of them — the last registered too
//! — and for the break-glass gateway, found through the ledger's index of
//! gateways.

use std::time::Duration;

use ehr_client::rpc::RpcClient;
use ehr_ledger::ledger::query::LIST_LIMIT;
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::tx::sign_tx;
use ehr_testkit::actions::register_staff;
use ehr_testkit::stack::*;

#[test]
fn every_member_of_an_organisation_larger_than_a_list_page_gets_the_key() {
    let s = Stack::start();
    let rpc = RpcClient::new(&s.node.url);
    let nurses: Vec<_> = (0..LIST_LIMIT + 5)
        .map(|i| key(&format!("nurse {i}@general")))
        .collect();
    // Registered in a few blocks: sent one after the other, committed together.
    s.block_on(async {
        let first = rpc.next_nonce(&s.cast.admin.address()).await.unwrap();
        for (i, n) in nurses.iter().enumerate() {
            let tx = sign_tx(
                &s.cast.admin,
                CHAIN,
                first + i as u64,
                register_staff(pk(n), Role::Nurse),
            );
            let r = rpc.broadcast_tx_sync(&tx).await.unwrap();
            assert_eq!(r.code, 0, "{}", r.log);
        }
    });
    let last = nurses.last().unwrap().address();
    wait_for("every nurse registered", Duration::from_secs(120), || {
        s.node
            .query::<Participant>(&format!("/participant/{last}"))
            .is_some()
    });
    let staff = s
        .block_on(rpc.query_all::<ParticipantList>("/staff/general"))
        .unwrap();
    assert!(staff.len() > LIST_LIMIT, "{} staff", staff.len());

    // Alice grants her vitals to the whole hospital.
    s.node.send(
        &s.cast.alice,
        Kind::GrantAccess(GrantAccess {
            patient: s.cast.alice.address().0.to_vec(),
            grantee: Some(Grantee {
                kind: Some(grantee::Kind::Organisation("general".into())),
            }),
            categories: vec![Category::Vitals as i32],
            access: AccessLevel::Read as i32,
            expires_at: 4_102_444_800,
        }),
    );
    // Ingest learns of new readers within its cache's life: readings until
    // one is wrapped for the last nurse.
    let wrapped_for = |reader: &str| {
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.wrapped_keys w JOIN ingest.stored_records r USING (key_id)
             WHERE r.device_id = 'hr-1' AND w.reader = '{reader}'"
        ))
    };
    wait_for(
        "a reading wrapped for the last nurse",
        Duration::from_secs(90),
        || {
            s.alice_heart_rates(1);
            wrapped_for(&last.to_string()) > 0
        },
    );
    // That key is wrapped for every nurse, the first page's and the last's,
    // and for the gateway's break-glass escrow.
    let key_id: String =
        s.db.client()
            .unwrap()
            .query_one(
                "SELECT key_id FROM ingest.wrapped_keys WHERE reader = $1 LIMIT 1",
                &[&last.to_string()],
            )
            .unwrap()
            .get(0);
    let readers = |reader: &str| {
        s.db.count(&format!(
            "SELECT count(*) FROM ingest.wrapped_keys WHERE key_id = '{key_id}' AND reader = '{reader}'"
        ))
    };
    for n in &nurses {
        assert_eq!(readers(&n.address().to_string()), 1, "{}", n.address());
    }
    assert_eq!(
        readers(&s.gateway_key.address().to_string()),
        1,
        "the escrow"
    );
    let metrics = s.ingest.metrics_text();
    assert!(
        metrics.contains("ehr_ingest_data_keys_without_escrow_total 0"),
        "every key has its escrow wrap: {metrics}"
    );
}
