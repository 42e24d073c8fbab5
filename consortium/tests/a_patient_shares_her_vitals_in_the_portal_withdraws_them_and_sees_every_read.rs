//! The portal end to end, in Debian's headless Chromium (playwright-core,
//! `portal/e2e/story.e2e.mjs`), against the whole stack as real processes —
//! the main job's four CometBFT validators, Kafka, ingest, PostgreSQL and
//! the gateway serving the page. A patient sees her readings verified in
//! the page and one record altered in storage shown as failed; she grants
//! North Clinic's doctor her vitals and shares the keys of past readings;
//! the doctor sees them verified, prescribes and orders a test in his page
//! (the Rust client opens what the page sealed); she revokes; the doctor is refused with
//! the chain's sentence, breaks the glass and reads under emergency access;
//! the patient's trail shows the read, the emergency and the flagged read.
//! Before her grant he is refused and asks her from his page; her grant
//! shares her past readings in the same step. A doctor nobody granted is
//! refused in a sentence to him; General's pharmacist dispenses; its lab
//! posts the result she reads; her guardian acts for her. Her rights: she
//! asks to amend the prescription and the doctor accepts with a correction
//! (the Rust client opens both, the original superseded); she erases her
//! labs and reads them as erased; a friend who named her as recovery
//! contact loses her phone, and with her approval and General's front desk
//! binds a new key that reads her past readings, then replaces it. axe-core
//! checks every page. The screenshots of docs/portal.md are taken on the way.

mod common;

use std::time::Duration;

use common::MainJob;
use ehr_client::keyring::Keyring;
use ehr_client::read_path::client::GatewayClient;
use ehr_client::read_path::documents::{self, Content};

#[test]
fn a_patient_shares_her_vitals_in_the_portal_withdraws_them_and_sees_every_read() {
    let job = MainJob::start("portal_story", &["--devices", "4", "--rate", "12"]);
    let portal = job
        .wait_for_line("portal: https://", Duration::from_secs(240))
        .trim_start()
        .trim_start_matches("portal: ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    job.wait_for_line("The story is told", Duration::from_secs(240));
    // This process's clients trust the run's authority, as `ehr --ca-file` does.
    let ca_file = job.data.join("tls/ca.pem");
    ehr_transport::install(
        &ehr_transport::Transport::for_client(&ehr_transport::ClientTlsArgs {
            ca_file: Some(ca_file.clone()),
            ..Default::default()
        })
        .unwrap(),
    );

    // Patient-3 has granted only the story's doctor; North Clinic's doctor
    // holds nothing of hers.
    let keys = Keyring::new(&job.data.join("ehr"));
    let patient = keys.load("patient-3").unwrap();
    let doctor = keys.load("er-doctor").unwrap();

    // One of her anchored readings is altered in storage (one byte of its
    // ciphertext): the page must show it as failed, the others verified.
    let mut db = ehr_migrations::connect(&job.database_url()).unwrap();
    let patient_address = patient.address().to_string();
    let mut tampered = None;
    for _ in 0..120 {
        tampered = db
            .query_opt(
                "WITH t AS (SELECT r.record_seq, r.record_id FROM ingest.stored_records r
                            JOIN ingest.batches b USING (batch_id)
                            WHERE r.patient = $1 AND b.status = 'committed'
                            ORDER BY r.record_seq DESC LIMIT 1 OFFSET 2),
                      altered AS (UPDATE ingest.records r
                                  SET ciphertext = set_byte(ciphertext, 19, get_byte(ciphertext, 19) # 255)
                                  FROM t WHERE r.record_seq = t.record_seq RETURNING r.record_seq)
                 SELECT t.record_id FROM t JOIN altered USING (record_seq)",
                &[&patient_address],
            )
            .unwrap()
            .map(|r| r.get::<_, String>(0));
        if tampered.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let tampered = tampered.expect("patient-3 has anchored readings within a minute");

    let shots = ehr_testkit::stack::workspace_root().join("docs/portal");
    let (patient_key, doctor_key) = (
        hex::encode(patient.to_bytes()),
        hex::encode(doctor.to_bytes()),
    );
    // A doctor nobody granted, General's pharmacist and lab technician,
    // patient-3's guardian, her friend patient-2 and General's front desk.
    let [stranger_key, pharmacist_key, lab_key, guardian_key, friend_key, admin_key] = [
        "visiting-doctor",
        "pharmacist",
        "lab",
        "guardian",
        "patient-2",
        "admin-general",
    ]
    .map(|who| hex::encode(keys.load(who).unwrap().to_bytes()));
    ehr_testkit::stack::run_portal_e2e(
        "story.e2e.mjs",
        &[
            portal.as_ref(),
            shots.as_os_str(),
            patient_key.as_ref(),
            doctor_key.as_ref(),
            tampered.as_ref(),
            stranger_key.as_ref(),
            pharmacist_key.as_ref(),
            lab_key.as_ref(),
            guardian_key.as_ref(),
            friend_key.as_ref(),
            admin_key.as_ref(),
        ],
        &ca_file,
    );

    // What the doctor's page sealed — the prescription and, on her request,
    // its correction — the Rust client opens as the patient.
    let gateway = portal.trim_end_matches("/portal/").to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let page = runtime
        .block_on(GatewayClient::new(&gateway, patient.clone()).documents(
            &patient.address(),
            "medications",
            None,
        ))
        .unwrap();
    let opened: Vec<Content> = page
        .documents
        .iter()
        .filter(|d| d.author == doctor.address().to_string())
        .map(|d| {
            documents::open(d, &patient, &patient.address())
                .unwrap()
                .content
        })
        .collect();
    let prescribed = |dose: &str| Content::Prescription {
        drug_code: "197361".into(),
        dose: dose.into(),
        unit: "mg".into(),
        quantity: 30,
        refills: 0,
    };
    assert_eq!(
        opened,
        vec![prescribed("5"), prescribed("2.5")],
        "the page's prescription and its correction, as the Rust client opens them"
    );
}
