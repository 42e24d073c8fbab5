//! The code directory: seeded at genesis, public to any query, changed only
//! by a proposal that more than two thirds of the members approve; a retired
//! code stays, with who retired it, why and what replaces it.

use ehr_ledger::proto::{governance_change::Kind as Change, *};
use ehr_ledger::Code;
use ehr_testkit::world::*;

fn loinc(code: &str, display: &str, unit: &str, min: f64, max: f64) -> CodeEntry {
    CodeEntry {
        system: CodeSystem::Loinc as i32,
        code: code.into(),
        display: display.into(),
        unit: unit.into(),
        min,
        max,
    }
}

fn retire(code: &str, replaced_by: &str) -> Change {
    Change::RetireCode(RetireCode {
        system: CodeSystem::Loinc as i32,
        code: code.into(),
        reason: "the consortium reports glucose in mmol/L".into(),
        replaced_by: replaced_by.into(),
    })
}

#[test]
fn the_genesis_seeds_the_directory_and_anyone_reads_it() {
    let w = World::new();
    let heart: Concept = w.query("/code/loinc/8867-4");
    let entry = heart.entry.unwrap();
    assert_eq!(entry.display, "heart rate");
    assert_eq!(
        (entry.unit.as_str(), entry.min, entry.max),
        ("/min", 20.0, 300.0)
    );
    assert_eq!(heart.status, ConceptStatus::Active as i32);
    assert_eq!(heart.added_by, 0, "added by the genesis");
    let diagnoses: ConceptList = w.query("/codes/icd10");
    assert!(diagnoses.items.len() >= 5);
    assert!(diagnoses
        .items
        .iter()
        .all(|c| c.entry.as_ref().unwrap().unit.is_empty()));
    let a = w.node.query("/code/loinc/1234-4");
    assert_eq!(a.code, ehr_ledger::ledger::QueryCode::NotFound);
    let a = w.node.query("/codes/cpt");
    assert_eq!(a.code, ehr_ledger::ledger::QueryCode::BadPath);
    assert!(a.log.contains("not a code system"), "{}", a.log);
}

#[test]
fn a_code_is_added_with_the_third_approval_of_four_and_never_twice() {
    let mut w = World::new();
    let add = Change::AddCodes(AddCodes {
        codes: vec![loinc(
            "2708-6",
            "oxygen saturation in arterial blood",
            "%",
            50.0,
            100.0,
        )],
    });
    let tx = w.admin.tx(propose(add.clone()));
    let r = w.ok(tx);
    let id: u64 = event_attr(&r, "proposal", "id").unwrap().parse().unwrap();
    let tx = w.north_admin.tx(vote(id, true));
    w.ok(tx);
    assert_eq!(
        w.node.query("/code/loinc/2708-6").code,
        ehr_ledger::ledger::QueryCode::NotFound
    );
    let tx = w.south_admin.tx(vote(id, true));
    let r = w.ok(tx);
    assert_eq!(
        event_attr(&r, "code_changed", "code").as_deref(),
        Some("2708-6")
    );
    assert_eq!(
        event_attr(&r, "code_changed", "status").as_deref(),
        Some("CONCEPT_STATUS_ACTIVE")
    );
    let c: Concept = w.query("/code/loinc/2708-6");
    assert_eq!(c.added_by, id);
    assert_eq!(c.status, ConceptStatus::Active as i32);
    // The same code again is refused before anyone votes.
    let tx = w.admin.tx(propose(add));
    let r = w.refused(tx, Code::CodeExists);
    assert!(r.log.contains("2708-6"), "{}", r.log);
    // A clinician cannot propose.
    let tx = w.doctor.tx(propose(Change::AddCodes(AddCodes {
        codes: vec![loinc(
            "2710-2",
            "oxygen saturation in capillary blood",
            "%",
            50.0,
            100.0,
        )],
    })));
    w.refused(tx, Code::WrongRole);
}

#[test]
fn a_retired_code_stays_with_its_reason_and_replacement() {
    let mut w = World::new();
    let tx = w.admin.tx(propose(retire("2339-0", "15074-8")));
    let r = w.ok(tx);
    let id: u64 = event_attr(&r, "proposal", "id").unwrap().parse().unwrap();
    let tx = w.north_admin.tx(vote(id, true));
    w.ok(tx);
    let tx = w.south_admin.tx(vote(id, true));
    w.ok(tx);
    let p: Proposal = w.query(&format!("/proposal/{id}"));
    assert_eq!(p.status, ProposalStatus::Applied as i32, "{}", p.failure);
    let c: Concept = w.query("/code/loinc/2339-0");
    assert_eq!(c.status, ConceptStatus::Retired as i32);
    assert_eq!(c.retired_by, id);
    assert!(c.retired_at > 0);
    assert_eq!(c.replaced_by, "15074-8");
    assert_eq!(c.reason, "the consortium reports glucose in mmol/L");
    assert_eq!(
        c.entry.unwrap().unit,
        "mg/dL",
        "what old records meant is kept"
    );
    // Retired once only; a retired code replaces nothing; an unknown one retires nothing.
    let tx = w.admin.tx(propose(retire("2339-0", "")));
    let r = w.refused(tx, Code::CodeRetired);
    assert!(r.log.contains("already retired"), "{}", r.log);
    let tx = w.admin.tx(propose(retire("8867-4", "2339-0")));
    let r = w.refused(tx, Code::CodeRetired);
    assert!(r.log.contains("replacement"), "{}", r.log);
    let tx = w.admin.tx(propose(retire("1234-4", "")));
    w.refused(tx, Code::UnknownCode);
}

#[test]
fn a_malformed_code_change_is_refused_with_the_field_that_is_wrong() {
    let mut w = World::new();
    let cases: Vec<(Change, &str)> = vec![
        (
            Change::AddCodes(AddCodes { codes: vec![] }),
            "1..=100 codes",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![loinc("88674", "heart rate", "/min", 20.0, 300.0)],
            }),
            "not a LOINC code",
        ),
        (
            // 8867-4 with one digit mistyped: the check digit catches it.
            Change::AddCodes(AddCodes {
                codes: vec![loinc("8687-4", "heart rate", "/min", 20.0, 300.0)],
            }),
            "the check digit of 8687 is 6, not 4",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![loinc("2708-6", "", "%", 50.0, 100.0)],
            }),
            "display",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![loinc("2708-6", "o2", "%", 100.0, 50.0)],
            }),
            "min < max",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![loinc("2708-6", "o2", "", 50.0, 100.0)],
            }),
            "no unit",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![loinc("2708-6", "o2", "%", f64::NAN, 100.0)],
            }),
            "finite",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![CodeEntry {
                    system: CodeSystem::Icd10 as i32,
                    code: "E11.9x".into(),
                    display: "diabetes".into(),
                    ..Default::default()
                }],
            }),
            "ICD-10-CM",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![CodeEntry {
                    system: CodeSystem::Icd10 as i32,
                    code: "E11.8".into(),
                    display: "diabetes".into(),
                    unit: "mg/dL".into(),
                    min: 1.0,
                    max: 2.0,
                }],
            }),
            "only a LOINC code",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![CodeEntry {
                    system: CodeSystem::Snomed as i32,
                    code: "0123456".into(),
                    display: "a symptom".into(),
                    ..Default::default()
                }],
            }),
            "SNOMED CT",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![CodeEntry {
                    code: "2708-6".into(),
                    display: "o2".into(),
                    ..Default::default()
                }],
            }),
            "system",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![
                    loinc("2708-6", "o2", "%", 50.0, 100.0),
                    loinc("2708-6", "o2 again", "%", 50.0, 100.0),
                ],
            }),
            "twice",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![loinc("2708-6", "o2", "mmHg", 50.0, 100.0)],
            }),
            "\"mmHg\" is not a UCUM unit",
        ),
        (
            Change::AddCodes(AddCodes {
                codes: vec![loinc("2708-6", "o2", "mg/", 50.0, 100.0)],
            }),
            "not a UCUM unit",
        ),
        (retire("2339-0\u{e9}", ""), "not a LOINC code"),
        (retire("2339-0", "2339-0"), "itself"),
        (
            Change::RetireCode(RetireCode {
                system: CodeSystem::Loinc as i32,
                code: "2339-0".into(),
                reason: String::new(),
                replaced_by: String::new(),
            }),
            "reason",
        ),
    ];
    for (change, says) in cases {
        let tx = w.admin.tx(propose(change.clone()));
        let r = w.refused(tx, Code::InvalidField);
        assert!(
            r.log.contains(says),
            "{change:?}: {:?} lacks {says:?}",
            r.log
        );
    }
}
