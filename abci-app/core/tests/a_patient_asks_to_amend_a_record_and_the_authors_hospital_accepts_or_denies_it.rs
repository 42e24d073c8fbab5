//! A patient asks the hospital whose doctor wrote a record to amend it
//! (HIPAA §164.526): accepted, the correction supersedes the record and both
//! stay, linked; denied on a ground the rule allows, she attaches her
//! statement of disagreement. Who may ask, who may decide and when are the
//! rule's; every refusal says why.

use ehr_ledger::proto::*;
use ehr_ledger::Code;
use ehr_testkit::actions::*;
use ehr_testkit::world::*;

const NOTES: Category = Category::Notes;

/// A world where the doctor wrote `id`, a note of alice's.
fn with_note(id: &str) -> World {
    let mut w = World::new();
    let g = w.grant(
        w.doctor.addr(),
        &[NOTES],
        AccessLevel::Write,
        w.now() + 90 * DAY,
    );
    w.ok(g);
    let tx = w.doctor.tx(anchor(id, &w.alice, NOTES));
    w.ok(tx);
    w
}

fn amendment(w: &World, id: u64) -> Amendment {
    w.query(&format!("/amendment/{id}"))
}

fn stored(w: &World, id: &str) -> StoredRecordAnchor {
    w.query(&format!("/record/{id}"))
}

#[test]
fn an_accepted_amendment_supersedes_the_record_and_keeps_both_linked() {
    let mut w = with_note("note-1");
    let tx = w
        .alice
        .tx(request_amendment(&w.alice, "note-1", "why-1", NOTES));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "amendment_requested", "org_id").as_deref(),
        Some("general")
    );
    let a = amendment(&w, 1);
    assert_eq!(a.status, AmendmentStatus::Requested as i32);
    assert_eq!(a.due_at, a.requested_at + 60 * DAY);
    assert_eq!(a.request_id, "why-1");
    assert_eq!(stored(&w, "why-1").amendment_id, 1);
    let listed: AmendmentList = w.query(&format!("/amendments/{}", w.alice.address()));
    assert_eq!(listed.items.len(), 1);
    // One open amendment per record.
    let tx = w
        .alice
        .tx(request_amendment(&w.alice, "note-1", "why-1b", NOTES));
    w.refused(tx, Code::AmendmentPending);
    // Decided by the author or a doctor or admin of his hospital only.
    let accept = accept_amendment(1, &w.alice, "fix-1", NOTES);
    for who in [&mut w.nurse, &mut w.north_doctor, &mut w.alice] {
        let tx = who.tx(accept.clone());
        let r = w.node.deliver(tx);
        assert_eq!(r.code, Code::WrongRole, "{}", r.log);
    }
    let tx = w.doctor.tx(accept_amendment(1, &w.alice, "fix-1", NOTES));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "amendment_decided", "decision").as_deref(),
        Some("accepted")
    );
    let a = amendment(&w, 1);
    assert_eq!(a.status, AmendmentStatus::Accepted as i32);
    assert_eq!(a.correction_id, "fix-1");
    assert!(!a.late);
    // Both kept, linked both ways.
    assert_eq!(stored(&w, "note-1").superseded_by, "fix-1");
    let fix = stored(&w, "fix-1");
    assert_eq!(fix.amends, "note-1");
    assert_eq!(fix.amendment_id, 1);
    assert_eq!(fix.author, w.doctor.addr());
    // Decided once; the superseded version is not amended again.
    let tx = w
        .admin
        .tx(deny_amendment(1, DenialReason::AccurateAndComplete));
    w.refused(tx, Code::AmendmentClosed);
    let tx = w
        .alice
        .tx(request_amendment(&w.alice, "note-1", "why-1c", NOTES));
    let r = w.refused(tx, Code::AmendmentClosed);
    assert!(r.log.contains("fix-1"), "{}", r.log);
}

#[test]
fn a_late_denial_is_marked_and_she_attaches_her_disagreement_once() {
    let mut w = with_note("note-2");
    let tx = w
        .alice_guardian
        .tx(request_amendment(&w.alice, "note-2", "why-2", NOTES));
    w.ok(tx);
    // A denial names a ground the rule allows.
    let tx = w.admin.tx(deny_amendment(1, DenialReason::Unspecified));
    w.refused(tx, Code::InvalidField);
    w.admin.nonce -= 1; // refused before any state is read
    w.node.advance_time(61 * DAY);
    let tx = w
        .admin
        .tx(deny_amendment(1, DenialReason::AccurateAndComplete));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "amendment_decided", "late").as_deref(),
        Some("true")
    );
    let a = amendment(&w, 1);
    assert_eq!(a.status, AmendmentStatus::Denied as i32);
    assert_eq!(a.denial_reason, DenialReason::AccurateAndComplete as i32);
    assert!(a.late);
    assert_eq!(a.decided_by, w.admin.addr());
    // Only she (or her guardian) disagrees, once.
    let tx = w
        .bob
        .tx(file_disagreement(1, &w.alice, "disagree-2", NOTES));
    w.refused(tx, Code::NotPatientOrGuardian);
    let tx = w
        .alice
        .tx(file_disagreement(1, &w.alice, "disagree-2", NOTES));
    w.ok(tx);
    assert_eq!(amendment(&w, 1).disagreement_id, "disagree-2");
    assert_eq!(stored(&w, "disagree-2").amendment_id, 1);
    let tx = w
        .alice
        .tx(file_disagreement(1, &w.alice, "disagree-2b", NOTES));
    w.refused(tx, Code::AmendmentClosed);
    // The record stands, and a new request may follow the denial.
    assert!(stored(&w, "note-2").superseded_by.is_empty());
    let tx = w
        .alice
        .tx(request_amendment(&w.alice, "note-2", "why-2b", NOTES));
    w.ok(tx);
}

#[test]
fn only_the_patient_asks_about_a_record_someone_else_wrote_and_the_records_are_hers() {
    let mut w = with_note("note-3");
    let tx = w
        .alice
        .tx(request_amendment(&w.alice, "no-such-note", "why-x", NOTES));
    w.refused(tx, Code::UnknownRecord);
    let tx = w
        .bob
        .tx(request_amendment(&w.bob, "note-3", "why-bob", NOTES));
    w.refused(tx, Code::NotPatientOrGuardian);
    // Her reason is a record of hers, of the note's category.
    let tx = w.alice.tx(request_amendment(
        &w.alice,
        "note-3",
        "why-labs",
        Category::Labs,
    ));
    w.refused(tx, Code::InvalidField);
    let tx = w
        .alice
        .tx(request_amendment(&w.bob, "note-3", "why-of-bob", NOTES));
    w.refused(tx, Code::InvalidField);
    // What she wrote herself, she rewrites: no amendment.
    let tx = w.alice.tx(anchor("her-own-note", &w.alice, NOTES));
    w.ok(tx);
    let tx = w.alice.tx(request_amendment(
        &w.alice,
        "her-own-note",
        "why-own",
        NOTES,
    ));
    w.refused(tx, Code::SelfAction);
    // An unknown amendment is refused by number.
    let tx = w.doctor.tx(accept_amendment(9, &w.alice, "fix-9", NOTES));
    w.refused(tx, Code::UnknownAmendment);
}
