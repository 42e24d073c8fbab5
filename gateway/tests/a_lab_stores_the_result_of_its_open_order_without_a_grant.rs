//! A lab's result is stored by its order: a technician of the ordered lab
//! stores the sealed result of an open order of that patient though the
//! patient granted the lab nothing — the ledger's rule for posting results,
//! checked by the gateway on proven state — once, under the order's name.
//! Anyone else naming the order, an order that is not there, another
//! patient's order, another name, a second result and an order named on
//! another category are refused with the reason.

use ehr_client::read_path::documents::{self, Content};
use ehr_client::read_path::readers::ReaderKey;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{action::Kind, RegisterStaff, Role};
use ehr_testkit::stack::*;

fn result(patient: &SecretKey, order_id: u64, author: &SecretKey) -> documents::Sealed {
    let alice = patient;
    let readers = [alice, author].map(|k| ReaderKey {
        address: k.address(),
        key: k.public_key(),
    });
    documents::seal(
        Content::LabResult {
            order_id,
            test_code: "2345-7".into(),
            value: "5.4".into(),
            unit: "mmol/L".into(),
        },
        &alice.address(),
        &readers,
        0,
    )
}

#[test]
fn a_lab_stores_the_result_of_its_open_order_without_a_grant() {
    let s = Stack::start();
    let lab = key("lab@general");
    s.node.send(
        &s.cast.admin,
        Kind::RegisterStaff(RegisterStaff {
            public_key: pk(&lab),
            role: Role::LabTechnician as i32,
        }),
    );
    // Alice lets her doctor order labs; she grants the lab nothing.
    let ok = |args: &[&str]| {
        let out = s.ehr(args);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    ok(&[
        "tx",
        "--from",
        "alice",
        "grant",
        "--patient",
        "alice",
        "--clinician",
        "doctor",
        "--category",
        "labs",
        "--access",
        "write",
        "--expires-in",
        "1d",
    ]);
    // A test the consortium's directory does not hold is not ordered (the
    // order is encrypted: the ordering client checks the code, proven).
    let unknown = s.ehr(&[
        "tx",
        "--from",
        "doctor",
        "order-lab",
        "--patient",
        "alice",
        "--test",
        "1234-4",
        "--lab",
        "general",
    ]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown)
            .contains("LOINC 1234-4 is not in the consortium's code directory (proven absent)"),
        "{}",
        stderr(&unknown)
    );
    let ordered = ok(&[
        "tx",
        "--from",
        "doctor",
        "order-lab",
        "--patient",
        "alice",
        "--test",
        "2345-7",
        "--lab",
        "general",
    ]);
    assert!(ordered.contains("order_id=1"), "{ordered}");
    let alice = s.cast.alice.address();

    // Without naming the order, the lab may not write her labs.
    let mut plain = result(&s.cast.alice, 1, &lab).upload;
    let e = s
        .block_on(s.client(&lab).put_document(&alice, &plain))
        .expect_err("no grant");
    assert_eq!(e.code(), Some("access_denied"), "{e}");
    // An order that is not there, or named by someone not of its lab.
    plain.order_id = Some(7);
    plain.record_id = documents::result_id(7);
    let e = s
        .block_on(s.client(&lab).put_document(&alice, &plain))
        .expect_err("no such order");
    assert_eq!(e.code(), Some("access_denied"), "{e}");
    assert!(e.to_string().contains("no lab order 7"), "{e}");
    let mut by_nurse = result(&s.cast.alice, 1, &s.nurse).upload;
    by_nurse.order_id = Some(1);
    let e = s
        .block_on(s.client(&s.nurse).put_document(&alice, &by_nurse))
        .expect_err("not a lab technician");
    assert_eq!(e.code(), Some("access_denied"), "{e}");
    assert!(e.to_string().contains("lab technician"), "{e}");
    // An order named on another category.
    let mut meds = result(&s.cast.alice, 1, &lab).upload;
    meds.order_id = Some(1);
    meds.category = "medications".into();
    let e = s
        .block_on(s.client(&lab).put_document(&alice, &meds))
        .expect_err("not labs");
    assert_eq!(e.code(), Some("bad_document"), "{e}");

    // Alice's order named for bob.
    let mut bobs = result(&s.cast.bob, 1, &lab).upload;
    bobs.order_id = Some(1);
    let e = s
        .block_on(s.client(&lab).put_document(&s.cast.bob.address(), &bobs))
        .expect_err("another patient's order");
    assert!(e.to_string().contains("another patient's"), "{e}");
    // Under another name than the order's.
    let mut renamed = result(&s.cast.alice, 1, &lab).upload;
    renamed.order_id = Some(1);
    renamed.record_id = "result-1-again".into();
    let e = s
        .block_on(s.client(&lab).put_document(&alice, &renamed))
        .expect_err("another name");
    assert_eq!(e.code(), Some("bad_document"), "{e}");

    // By its order, it is stored; alice opens it; a second result is not.
    let mut sealed = result(&s.cast.alice, 1, &lab).upload;
    sealed.order_id = Some(1);
    assert_eq!(sealed.record_id, "result-1");
    s.block_on(s.client(&lab).put_document(&alice, &sealed))
        .expect("a technician of the ordered lab stores its result");
    let e = s
        .block_on(s.client(&lab).put_document(&alice, &sealed))
        .expect_err("one result per order");
    assert_eq!(e.code(), Some("document_exists"), "{e}");
    let page = s
        .block_on(s.client(&s.cast.alice).documents(&alice, "labs", None))
        .unwrap();
    let opened: Vec<Content> = page
        .documents
        .iter()
        .filter(|d| d.record_id == sealed.record_id)
        .map(|d| documents::open(d, &s.cast.alice, &alice).unwrap().content)
        .collect();
    assert!(
        matches!(opened.as_slice(), [Content::LabResult { order_id: 1, value, .. }] if value == "5.4"),
        "{opened:?}"
    );
}
