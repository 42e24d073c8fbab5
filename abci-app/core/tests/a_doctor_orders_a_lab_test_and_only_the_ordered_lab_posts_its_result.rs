//! Only a doctor with write access to a patient's labs orders a test; only a lab
//! technician of the ordered lab posts the result of an open order, once.

use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

fn result_for(order_id: u64, id: &str, patient: &ehr_ledger::mock_consensus::Actor) -> Kind {
    Kind::PostLabResult(PostLabResult {
        order_id,
        record: Some(record(id, patient, Category::Labs)),
    })
}

#[test]
fn an_order_is_fulfilled_once_by_a_technician_of_the_ordered_lab() {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Labs],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.doctor.tx(order_lab(&w.alice, "north"));
    let r = w.ok(tx);
    let order_id: u64 = event_attr(&r, "lab_ordered", "order_id")
        .unwrap()
        .parse()
        .unwrap();

    // The order is on the ordered lab's worklist, and no other lab's.
    let worklist: LabOrderList = w.query("/lab-orders/north");
    assert_eq!(
        worklist.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        [order_id]
    );
    assert!(w
        .query::<LabOrderList>("/lab-orders/general")
        .items
        .is_empty());

    // A technician of another lab may not post it.
    let tx = w.lab_tech.tx(result_for(order_id, "lab-1", &w.alice));
    w.refused(tx, Code::WrongOrganisation);
    // A result for another patient, or not a labs record, is refused.
    let tx = w.north_lab_tech.tx(result_for(order_id, "lab-1", &w.bob));
    w.refused(tx, Code::InvalidField);

    let tx = w.north_lab_tech.tx(result_for(order_id, "lab-1", &w.alice));
    w.ok(tx);
    let order: LabOrder = w.query(&format!("/order/{order_id}"));
    assert_eq!(order.status, OrderStatus::Fulfilled as i32);
    assert_eq!(order.result_record_id, "lab-1");
    // Fulfilled, it leaves the worklist.
    assert!(w
        .query::<LabOrderList>("/lab-orders/north")
        .items
        .is_empty());
    let anchored: StoredRecordAnchor = w.query("/record/lab-1");
    assert_eq!(anchored.author, w.north_lab_tech.addr());

    // Once fulfilled, the order takes no second result.
    let tx = w.north_lab_tech.tx(result_for(order_id, "lab-2", &w.alice));
    w.refused(tx, Code::OrderNotOpen);
    let tx = w.north_lab_tech.tx(result_for(999, "lab-3", &w.alice));
    w.refused(tx, Code::UnknownOrder);

    let orders: LabOrderList = w.query(&format!("/orders/{}", w.alice.address()));
    assert_eq!(orders.items.len(), 1);
}

#[test]
fn ordering_needs_a_doctor_with_write_access_to_labs() {
    let mut w = World::new();
    // No grant yet.
    let tx = w.doctor.tx(order_lab(&w.alice, "general"));
    w.refused(tx, Code::NoAccess);
    // A read grant is not enough to order.
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Labs],
        AccessLevel::Read,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.doctor.tx(order_lab(&w.alice, "general"));
    w.refused(tx, Code::NoAccess);
    // A nurse with write access still may not order.
    let g = w.grant(
        w.nurse.addr(),
        &[Category::All],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.nurse.tx(order_lab(&w.alice, "general"));
    w.refused(tx, Code::WrongRole);
    // Write access to labs lets the doctor order, but only from a member lab.
    let g = w.grant(
        w.doctor.addr(),
        &[Category::Labs],
        AccessLevel::Write,
        w.now() + DAY,
    );
    w.ok(g);
    let tx = w.doctor.tx(order_lab(&w.alice, "nowhere"));
    w.refused(tx, Code::UnknownOrganisation);
    let tx = w.doctor.tx(order_lab(&w.alice, "general"));
    w.ok(tx);
    // An order with another patient's or another category's record, or
    // without its encrypted content, never reaches the state.
    let wrong = [
        record("order-bob", &w.bob, Category::Labs),
        record("order-meds", &w.alice, Category::Medications),
    ];
    for order in wrong {
        let bad = Kind::OrderLabTest(OrderLabTest {
            patient: w.alice.addr(),
            lab_org: "general".into(),
            order: Some(order),
        });
        let tx = w.doctor.tx(bad);
        let r = w.refused(tx, Code::InvalidField);
        assert!(
            r.log.contains("must be a labs record of patient"),
            "{}",
            r.log
        );
    }
    // Refused before the rules (its nonce is not used): sent last.
    let missing = Kind::OrderLabTest(OrderLabTest {
        patient: w.alice.addr(),
        lab_org: "general".into(),
        order: None,
    });
    let tx = w.doctor.tx(missing);
    w.refused(tx, Code::InvalidField);
}
