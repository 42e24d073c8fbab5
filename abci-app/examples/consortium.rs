//! A local consortium of four hospitals working through a clinical story on a
//! ledger kept on disk, block by block, with every result code shown.
//!
//! cargo run --release -p ehr-ledger --example consortium -- [--data DIR]
//!
//! Consensus here is the in-process mock consensus (one process, no network);
//! the ledger, its rules, its store and its proofs are the real ones.

use std::path::PathBuf;

use ehr_ledger::crypto::{merkle, sha256};
use ehr_ledger::ledger::query::QueryCode;
use ehr_ledger::mock_consensus::{consortium_genesis, validator_key, Actor, TestNode};
use ehr_ledger::proto::{action::Kind, governance_change, *};
use ehr_ledger::storage::verify_proof;
use ehr_ledger::tx::action_name;
use prost::Message;

const CHAIN: &str = "ehr-local";
const DAY: i64 = 86_400;

struct Story {
    node: TestNode,
    accepted: usize,
    refused: usize,
}

impl Story {
    /// One block: prints each transaction's action, signer role and result.
    fn block(
        &mut self,
        title: &str,
        txs: Vec<(&str, Vec<u8>)>,
    ) -> Vec<ehr_ledger::ledger::TxResult> {
        let (labels, bytes): (Vec<&str>, Vec<Vec<u8>>) = txs.into_iter().unzip();
        let result = self
            .node
            .block(bytes.clone())
            .expect("the ledger applies the block");
        println!(
            "\nblock {:>3}  app hash {}…  {title}",
            result.height,
            &hex::encode(result.app_hash)[..16]
        );
        for ((label, tx), r) in labels.iter().zip(&bytes).zip(&result.tx_results) {
            let action = ehr_ledger::tx::decode_and_verify(tx, CHAIN)
                .map(|t| action_name(&t.action))
                .unwrap_or("?");
            if r.is_ok() {
                self.accepted += 1;
                println!("  ok        {action:<22} by {label}");
            } else {
                self.refused += 1;
                println!(
                    "  REFUSED   {action:<22} by {label}: code {} — {}",
                    r.code, r.log
                );
            }
        }
        for u in &result.validator_updates {
            println!(
                "  validator update for CometBFT: {}… power {}",
                &hex::encode(&u.pub_key)[..16],
                u.power
            );
        }
        result.tx_results
    }

    fn query<M: Message + Default>(&self, path: &str) -> M {
        let a = self.node.query(path);
        assert_eq!(a.code, QueryCode::Ok, "{path}: {}", a.log);
        M::decode(a.value.as_slice()).expect("answer decodes")
    }
}

fn actor(seed: &str) -> Actor {
    Actor::new(seed, CHAIN)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut data = std::env::temp_dir().join("ehr-consortium");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = PathBuf::from(args.next().expect("--data needs a folder")),
            other => {
                eprintln!("unknown argument {other}; usage: consortium [--data DIR]");
                std::process::exit(2);
            }
        }
    }
    if data.exists() {
        std::fs::remove_dir_all(&data).expect("the old demo folder can be removed");
    }
    std::fs::create_dir_all(&data).expect("the demo folder can be created");
    let orgs = ["general", "north", "south", "east"];
    let node = TestNode::init(&data.join("ledger.redb"), CHAIN, &consortium_genesis(&orgs))
        .expect("genesis");
    println!(
        "ehr-ledger: a local consortium of {} hospitals ({}), chain {CHAIN}",
        orgs.len(),
        orgs.join(", ")
    );
    println!("ledger kept in {}", data.display());
    println!(
        "consensus: in-process mock consensus (one process; the CometBFT node comes with ehr-node)"
    );
    let mut s = Story {
        node,
        accepted: 0,
        refused: 0,
    };

    let (mut admin, mut north_admin, mut south_admin, mut east_admin) = (
        actor("admin@general"),
        actor("admin@north"),
        actor("admin@south"),
        actor("admin@east"),
    );
    let (mut doctor, mut nurse, mut pharmacist) = (
        actor("doctor@general"),
        actor("nurse@general"),
        actor("pharmacist@general"),
    );
    let (mut north_lab, mut north_doctor) = (actor("labtech@north"), actor("doctor@north"));
    let (mut ingest, mut gateway) = (actor("ingest@general"), actor("gateway@general"));
    let (mut alice, mother, mut bob) = (actor("alice"), actor("alice's mother"), actor("bob"));
    let staff = |pk: Vec<u8>, role: Role| {
        Kind::RegisterStaff(RegisterStaff {
            public_key: pk,
            role: role as i32,
        })
    };
    let service = |pk: Vec<u8>, kind: ServiceKind| {
        Kind::RegisterService(RegisterService {
            public_key: pk,
            kind: kind as i32,
        })
    };

    s.block(
        "hospitals register their staff and services",
        vec![
            (
                "admin of general",
                admin.tx(staff(doctor.public_key(), Role::Doctor)),
            ),
            (
                "admin of general",
                admin.tx(staff(nurse.public_key(), Role::Nurse)),
            ),
            (
                "admin of general",
                admin.tx(staff(pharmacist.public_key(), Role::Pharmacist)),
            ),
            (
                "admin of general",
                admin.tx(service(ingest.public_key(), ServiceKind::Ingest)),
            ),
            (
                "admin of general",
                admin.tx(service(gateway.public_key(), ServiceKind::Gateway)),
            ),
            (
                "admin of north",
                north_admin.tx(staff(north_lab.public_key(), Role::LabTechnician)),
            ),
            (
                "admin of north",
                north_admin.tx(staff(north_doctor.public_key(), Role::Doctor)),
            ),
        ],
    );
    s.block(
        "patients register; devices are bound",
        vec![
            (
                "alice",
                alice.tx(Kind::RegisterPatient(RegisterPatient {
                    guardian_public_key: mother.public_key(),
                })),
            ),
            (
                "bob",
                bob.tx(Kind::RegisterPatient(RegisterPatient::default())),
            ),
            (
                "alice",
                alice.tx(Kind::BindDevice(BindDevice {
                    device_id: "hr-monitor-1".into(),
                    public_key: actor("hr-monitor-1").public_key(),
                    patient: alice.addr(),
                })),
            ),
            (
                "admin of general",
                admin.tx(Kind::BindDevice(BindDevice {
                    device_id: "glucose-7".into(),
                    public_key: actor("glucose-7").public_key(),
                    patient: bob.addr(),
                })),
            ),
        ],
    );
    let now = s.node.time;
    let to_doctor = Grantee {
        kind: Some(grantee::Kind::Clinician(doctor.addr())),
    };
    s.block(
        "alice consents: her doctor may read and write for 30 days; research on",
        vec![
            (
                "alice",
                alice.tx(Kind::GrantAccess(GrantAccess {
                    patient: alice.addr(),
                    grantee: Some(to_doctor.clone()),
                    categories: vec![
                        Category::Vitals as i32,
                        Category::Labs as i32,
                        Category::Medications as i32,
                    ],
                    access: AccessLevel::Write as i32,
                    expires_at: now + 30 * DAY,
                })),
            ),
            (
                "alice",
                alice.tx(Kind::SetResearchConsent(SetResearchConsent {
                    patient: alice.addr(),
                    consent: true,
                })),
            ),
        ],
    );
    let results = s.block(
        "the doctor orders a lab test at north; a nurse tries to prescribe",
        vec![
            (
                "doctor of general",
                doctor.tx(Kind::OrderLabTest(OrderLabTest {
                    patient: alice.addr(),
                    test_code: "2345-7".into(),
                    lab_org: "north".into(),
                })),
            ),
            (
                "nurse of general",
                nurse.tx(Kind::Prescribe(Prescribe {
                    patient: alice.addr(),
                    drug_code: "860975".into(),
                    dose_milli: 500_000,
                    dose_unit: "mg".into(),
                    quantity: 60,
                    refills: 1,
                    valid_until: now + 90 * DAY,
                })),
            ),
        ],
    );
    let order_id = event(&results[0], "order_id").parse().unwrap_or(1);
    let result_record = RecordRef {
        record_id: "lab-result-1".into(),
        patient: alice.addr(),
        category: Category::Labs as i32,
        ciphertext_sha256: sha256(b"encrypted lab result").to_vec(),
        size: 2048,
        locator: "pg://records/lab-result-1".into(),
    };
    let results = s.block(
        "north's lab posts the result; the doctor prescribes",
        vec![
            (
                "lab technician of north",
                north_lab.tx(Kind::PostLabResult(PostLabResult {
                    order_id,
                    record: Some(result_record),
                })),
            ),
            (
                "doctor of general",
                doctor.tx(Kind::Prescribe(Prescribe {
                    patient: alice.addr(),
                    drug_code: "860975".into(),
                    dose_milli: 500_000,
                    dose_unit: "mg".into(),
                    quantity: 60,
                    refills: 1,
                    valid_until: now + 90 * DAY,
                })),
            ),
        ],
    );
    let rx = event(&results[1], "prescription_id").parse().unwrap_or(1);
    let dispense = Kind::Dispense(Dispense {
        prescription_id: rx,
    });
    s.block(
        "the pharmacist dispenses: first fill and one refill",
        vec![
            ("pharmacist of general", pharmacist.tx(dispense.clone())),
            ("pharmacist of general", pharmacist.tx(dispense.clone())),
        ],
    );
    s.block(
        "a third fill is refused",
        vec![("pharmacist of general", pharmacist.tx(dispense))],
    );
    s.block(
        "bob arrives unconscious at north: break-glass",
        vec![(
            "doctor of north",
            north_doctor.tx(Kind::OpenEmergencyAccess(OpenEmergencyAccess {
                patient: bob.addr(),
                reason: EmergencyReason::Unconscious as i32,
                justification: "brought in by ambulance, unresponsive".into(),
            })),
        )],
    );
    let disclosure =
        |accessor: &Actor, patient: &Actor, category: Category, purpose: Purpose| Disclosure {
            accessor: accessor.addr(),
            patient: patient.addr(),
            record_ids: vec!["lab-result-1".into()],
            purpose: purpose as i32,
            disclosed_at: now,
            category: category as i32,
        };
    // The ingest service anchors a batch of eight device readings.
    let readings: Vec<[u8; 32]> = (0..8)
        .map(|i| sha256(format!("encrypted reading {i}").as_bytes()))
        .collect();
    let root = merkle::root(&readings);
    s.block(
        "the gateway logs disclosures; ingest anchors a batch of readings",
        vec![
            (
                "gateway of general",
                gateway.tx(Kind::LogDisclosures(LogDisclosures {
                    disclosures: vec![
                        disclosure(&doctor, &alice, Category::Labs, Purpose::Treatment),
                        disclosure(&north_doctor, &bob, Category::Labs, Purpose::Emergency),
                    ],
                })),
            ),
            (
                "ingest of general",
                ingest.tx(Kind::AnchorBatch(AnchorBatch {
                    batch_id: 1,
                    merkle_root: root.to_vec(),
                    record_count: 8,
                    first_record: 1,
                    last_record: 8,
                })),
            ),
        ],
    );
    s.block(
        "alice revokes her doctor's access",
        vec![(
            "alice",
            alice.tx(Kind::RevokeAccess(RevokeAccess {
                patient: alice.addr(),
                grantee: Some(to_doctor),
                categories: vec![],
            })),
        )],
    );
    let west_validator = validator_key("validator@west");
    let results = s.block(
        "general proposes a new member, west, with a validator",
        vec![(
            "admin of general",
            admin.tx(Kind::Propose(Propose {
                change: Some(GovernanceChange {
                    kind: Some(governance_change::Kind::AddMember(AddMember {
                        org_id: "west".into(),
                        name: "West Clinic".into(),
                        admin_public_key: actor("admin@west").public_key(),
                    })),
                }),
            })),
        )],
    );
    let proposal: u64 = event(&results[0], "id").parse().unwrap_or(1);
    s.block(
        "north and south approve: 3 of 4 is more than two thirds",
        vec![
            (
                "admin of north",
                north_admin.tx(Kind::Vote(Vote {
                    proposal_id: proposal,
                    approve: true,
                })),
            ),
            (
                "admin of south",
                south_admin.tx(Kind::Vote(Vote {
                    proposal_id: proposal,
                    approve: true,
                })),
            ),
        ],
    );
    s.block(
        "west's validator is proposed",
        vec![(
            "admin of general",
            admin.tx(Kind::Propose(Propose {
                change: Some(GovernanceChange {
                    kind: Some(governance_change::Kind::AddValidator(AddValidator {
                        pub_key: west_validator,
                        power: 10,
                        operator_org: "west".into(),
                    })),
                }),
            })),
        )],
    );
    s.block(
        "members approve; CometBFT receives the validator update",
        vec![
            (
                "admin of north",
                north_admin.tx(Kind::Vote(Vote {
                    proposal_id: proposal + 1,
                    approve: true,
                })),
            ),
            (
                "admin of south",
                south_admin.tx(Kind::Vote(Vote {
                    proposal_id: proposal + 1,
                    approve: true,
                })),
            ),
            (
                "admin of east",
                east_admin.tx(Kind::Vote(Vote {
                    proposal_id: proposal + 1,
                    approve: true,
                })),
            ),
        ],
    );

    println!("\n— what the chain now says —");
    let access: AccessDecision = s.query(&format!(
        "/access/{}/{}/labs",
        alice.address(),
        doctor.address()
    ));
    println!(
        "may alice's doctor read her labs now? {} ({})",
        access.allowed, access.reason
    );
    for (who, p) in [("alice", &alice), ("bob", &bob)] {
        let trail: AuditTrail = s.query(&format!("/audit/{}", p.address()));
        println!("audit trail of {who}:");
        for e in &trail.items {
            println!(
                "  #{} height {} {} by {} basis {}{}",
                e.seq,
                e.height,
                AuditKind::try_from(e.kind)
                    .map(|k| k.as_str_name())
                    .unwrap_or("?"),
                ehr_ledger::crypto::Address::from_slice(&e.accessor)
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                AccessBasis::try_from(e.basis)
                    .map(|b| b.as_str_name())
                    .unwrap_or("?"),
                if e.emergency { "  [EMERGENCY]" } else { "" }
            );
        }
    }
    // A reading proven anchored: state proof of the batch under the app hash, then its Merkle path.
    let answer = s
        .node
        .ledger
        .query(&format!("/batch/{}/1", ingest.address()), &[], 0, true);
    let proof = answer.proof.expect("a proof was asked for");
    let state_ok =
        verify_proof(s.node.app_hash(), &answer.key, Some(&answer.value), &proof).is_ok();
    let batch = StoredBatchAnchor::decode(answer.value.as_slice()).expect("batch decodes");
    let path = merkle::proof(&readings, 3).expect("index in range");
    let anchored: [u8; 32] = batch.merkle_root.as_slice().try_into().expect("32 bytes");
    let leaf_ok = merkle::verify(
        &anchored,
        &readings[3],
        3,
        batch.record_count as usize,
        &path,
    );
    println!(
        "reading 4 of batch 1 anchored at height {}: state proof {}, Merkle path {}",
        batch.height,
        if state_ok { "verifies" } else { "FAILS" },
        if leaf_ok { "verifies" } else { "FAILS" }
    );
    let validators: ValidatorList = s.query("/validators");
    println!(
        "validators: {}; organisations: {}",
        validators.items.len(),
        s.query::<OrganisationList>("/organisations").items.len()
    );
    println!(
        "\n{} transactions accepted, {} refused (each with its code), height {}, app hash {}",
        s.accepted,
        s.refused,
        s.node.height(),
        hex::encode(s.node.app_hash())
    );
}

fn event(r: &ehr_ledger::ledger::TxResult, key: &str) -> String {
    r.events
        .iter()
        .flat_map(|e| e.attributes.iter())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}
