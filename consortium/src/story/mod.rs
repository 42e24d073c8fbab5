//! The clinical story, told through the chain's RPC and the gateway exactly as
//! hospitals, patients and clinicians would: every step states the outcome it
//! must have (a ledger code, or a read verified or refused) and records what
//! it got.

use ehr_client::keyring::Keyring;
use ehr_client::read_path::client::{GatewayClient, GatewayError, RecordsQuery};
use ehr_client::read_path::documents::{self, Content};
use ehr_client::read_path::open::{decrypt, ChainVerifier, TrustRoot, VerifyError};
use ehr_client::rpc::proven::{ProvenState, DEFAULT_MAX_AGE};
use ehr_client::rpc::{RpcClient, TxResult};
use ehr_ledger::crypto::{Address, SecretKey};
use ehr_ledger::proto::{action::Kind, *};
use ehr_ledger::tx::sign_tx;
use ehr_ledger::Code;
use serde::Serialize;

use crate::chain::HOSPITALS;
use crate::fleet::{Device, KINDS};

mod clinic;
mod directory;
mod onboarding;
mod public_chain;
mod reads;

/// Everyone in the story, with fresh keys.
pub struct Cast {
    /// The admins of the four hospitals, in the order of `HOSPITALS`.
    pub admins: Vec<SecretKey>,
    pub doctor: SecretKey,
    pub nurse: SecretKey,
    pub pharmacist: SecretKey,
    pub lab: SecretKey,
    /// A doctor of North Clinic, with no grant: the emergency.
    pub er_doctor: SecretKey,
    /// A doctor of South Medical Centre whom no patient granted anything
    /// and who opens no emergency access: what a refusal looks like.
    pub visiting_doctor: SecretKey,
    /// The guardian of patient-3 (a parent, say): acts for her.
    pub guardian: SecretKey,
    pub ingest: SecretKey,
    pub gateway: SecretKey,
    pub patients: Vec<SecretKey>,
    pub devices: Vec<Device>,
}

impl Cast {
    /// Whether patient `i` (from 0) consents to research in the story: two
    /// in three do.
    pub fn consents_to_research(&self, i: usize) -> bool {
        (i + 1) % 3 != 2
    }

    /// Everyone new, the hospitals' admins too.
    pub fn new(patients: usize) -> Cast {
        let admins = HOSPITALS.iter().map(|_| SecretKey::generate()).collect();
        let (ingest, gateway) = (SecretKey::generate(), SecretKey::generate());
        Cast::with(admins, ingest, gateway, patients)
    }

    /// With the hospitals' admins and services given (a consortium already running).
    pub fn with(
        admins: Vec<SecretKey>,
        ingest: SecretKey,
        gateway: SecretKey,
        patients: usize,
    ) -> Cast {
        let key = SecretKey::generate;
        // Device ids are never reused on a chain: each run's fleet has its own.
        let run = hex::encode(&key().to_bytes()[..2]);
        Cast {
            admins,
            doctor: key(),
            nurse: key(),
            pharmacist: key(),
            lab: key(),
            er_doctor: key(),
            visiting_doctor: key(),
            guardian: key(),
            ingest,
            gateway,
            patients: (0..patients).map(|_| key()).collect(),
            devices: (0..patients)
                .map(|i| Device {
                    id: format!("{}-{}-{run}", device_kind(i), i + 1),
                    key: key(),
                    loinc: KINDS[i % KINDS.len()],
                })
                .collect(),
        }
    }

    /// The people's keys, for the `ehr` CLI (`--home <data>/ehr`).
    pub fn save(&self, keyring: &Keyring) -> Result<(), crate::Error> {
        for ((id, _), k) in HOSPITALS.iter().zip(&self.admins) {
            keyring.save(&format!("admin-{id}"), k)?;
        }
        for (name, k) in [
            ("doctor", &self.doctor),
            ("nurse", &self.nurse),
            ("pharmacist", &self.pharmacist),
            ("lab", &self.lab),
            ("er-doctor", &self.er_doctor),
            ("visiting-doctor", &self.visiting_doctor),
            ("guardian", &self.guardian),
        ] {
            keyring.save(name, k)?;
        }
        for (i, k) in self.patients.iter().enumerate() {
            keyring.save(&format!("patient-{}", i + 1), k)?;
        }
        Ok(())
    }
}

fn device_kind(i: usize) -> &'static str {
    ["pulse", "oximeter", "thermometer", "resp"][i % 4]
}

/// What one read got.
#[derive(Clone, Debug, Default)]
pub struct Read {
    pub basis: String,
    pub records: usize,
    /// Decrypted, and the device's signature verified.
    pub decrypted: usize,
    /// And the Merkle path verified against the anchor on chain.
    pub anchored: usize,
    /// Decrypted and signed, its batch not anchored yet.
    pub awaiting_anchor: usize,
}

impl Read {
    /// Every record decrypted and signed; every anchored one verified.
    pub fn all_good(&self) -> bool {
        self.decrypted == self.records && self.anchored + self.awaiting_anchor == self.records
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub title: String,
    pub expected: String,
    pub got: String,
    pub ok: bool,
}

/// How long a read may take before it is given up.
const READ_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);

pub struct Teller {
    rpc: RpcClient,
    gateway: Option<String>,
    /// General's FHIR API and an HTTPS client showing its EHR's certificate.
    fhir: Option<(String, reqwest::Client)>,
    /// What the story's reads check the chain's answers against: the
    /// genesis file under CometBFT, the dev sequencer trusted by the main
    /// job's own choice of chain — never what the node says it is.
    trust: TrustRoot,
    runtime: tokio::runtime::Runtime,
    chain_id: String,
    pub steps: Vec<Step>,
}

fn pk(k: &SecretKey) -> Vec<u8> {
    k.public_key().to_bytes().to_vec()
}

fn addr(k: &SecretKey) -> Vec<u8> {
    k.address().0.to_vec()
}

fn code_name(code: u32) -> String {
    Code::from_u32(code).map_or_else(|| format!("{code}"), |c| c.to_string())
}

impl Teller {
    pub fn new(rpc_url: &str) -> Result<Teller, crate::Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| crate::Error::Io {
                what: "cannot start the story's runtime".into(),
                source,
            })?;
        let rpc = RpcClient::new(rpc_url);
        let chain_id = runtime.block_on(rpc.chain_id())?;
        Ok(Teller {
            rpc,
            gateway: None,
            fhir: None,
            trust: TrustRoot::None,
            runtime,
            chain_id,
            steps: Vec::new(),
        })
    }

    pub fn use_gateway(&mut self, url: &str) {
        self.gateway = Some(url.to_string());
    }

    /// General's FHIR API at `base`, called with `client` (its EHR's certificate).
    pub fn use_fhir(&mut self, base: &str, client: reqwest::Client) {
        self.fhir = Some((base.to_string(), client));
    }

    /// What the story's reads trust (`TrustRoot::None`: nothing verifies).
    pub fn use_trust(&mut self, trust: TrustRoot) {
        self.trust = trust;
    }

    pub fn all_ok(&self) -> bool {
        self.steps.iter().all(|s| s.ok)
    }

    fn record(&mut self, title: &str, expected: &str, got: String, ok: bool) {
        let mark = if ok { "ok " } else { "UNEXPECTED" };
        println!("  {mark:<3} {title} — {got}");
        self.steps.push(Step {
            title: title.into(),
            expected: expected.into(),
            got,
            ok,
        });
    }

    /// Sends `action` signed by `key`, waits for its block, and checks its code.
    pub fn act(
        &mut self,
        title: &str,
        key: &SecretKey,
        action: Kind,
        expected: Code,
    ) -> Option<TxResult> {
        let rpc = self.rpc.clone();
        let chain_id = self.chain_id.clone();
        let sent = self.runtime.block_on(async {
            let nonce = rpc.next_nonce(&key.address()).await?;
            rpc.broadcast_tx_commit(&sign_tx(key, &chain_id, nonce, action))
                .await
        });
        match sent {
            Err(e) => {
                self.record(
                    title,
                    &expected.to_string(),
                    format!("not sent: {e}"),
                    false,
                );
                None
            }
            Ok(r) => {
                let result = if r.check_tx.code != 0 {
                    r.check_tx
                } else {
                    r.tx_result
                };
                let got = if result.code == 0 {
                    format!("accepted in block {}", r.height)
                } else {
                    format!("refused, code {}: {}", code_name(result.code), result.log)
                };
                let ok = result.code == expected as u32;
                self.record(title, &expected.to_string(), got, ok);
                Some(result)
            }
        }
    }

    /// Seals what `author` orders or prescribes and stores it with the
    /// gateway, as the doctor's client does; the reference to anchor, or the
    /// step recorded as failed.
    fn document(
        &mut self,
        title: &str,
        author: &SecretKey,
        patient: &SecretKey,
        content: Content,
    ) -> Option<RecordRef> {
        let url = self.gateway.clone().unwrap_or_default();
        let client = GatewayClient::new(&url, author.clone());
        let rpc = self.rpc.clone();
        let trust = self.trust.clone();
        let written = self.runtime.block_on(async {
            let chain = ProvenState::connect(rpc, &trust, DEFAULT_MAX_AGE)
                .await
                .map_err(|e| e.to_string())?;
            documents::write(
                &chain,
                &client,
                &author.public_key(),
                &patient.address(),
                content,
                crate::fleet::now_ms() / 1000,
            )
            .await
            .map_err(|e| e.to_string())
        });
        match written {
            Ok(r) => Some(r),
            Err(e) => {
                self.record(title, "stored", format!("not stored: {e}"), false);
                None
            }
        }
    }

    fn registered_service(&self, k: &SecretKey) -> bool {
        let p: Option<Participant> = self
            .runtime
            .block_on(self.rpc.query(&format!("/participant/{}", k.address())))
            .ok()
            .flatten();
        p.is_some_and(|p| p.kind == ParticipantKind::Service as i32)
    }
    /// Fetches (measured since `since`, unix seconds), decrypts and verifies
    /// as `reader`, or the gateway's refusal.
    pub fn read(
        &self,
        reader: &SecretKey,
        patient: &Address,
        since: Option<i64>,
    ) -> Result<Read, GatewayError> {
        let url = self.gateway.as_deref().unwrap_or_default();
        let client = GatewayClient::new(url, reader.clone());
        let rpc = self.rpc.clone();
        let trust = self.trust.clone();
        let read = async {
            let query = RecordsQuery {
                from: since,
                ..RecordsQuery::category("vitals")
            };
            let page = client.all_records(patient, &query).await?;
            // Without a trust root nothing counts as verified.
            let mut chain = ChainVerifier::connect(rpc, &trust)
                .await
                .ok()
                .map(|(chain, _)| chain);
            let mut r = Read {
                records: page.records.len(),
                basis: page.basis,
                ..Read::default()
            };
            for item in &page.records {
                let Ok(opened) = decrypt(item, reader) else {
                    continue;
                };
                let Some(chain) = chain.as_mut() else {
                    continue;
                };
                if chain.verify_device(&opened, patient).await.is_err() {
                    continue;
                }
                r.decrypted += 1;
                match chain.verify_anchor(item).await {
                    Ok(_) => r.anchored += 1,
                    Err(VerifyError::NotAnchored) => r.awaiting_anchor += 1,
                    Err(_) => {}
                }
            }
            Ok(r)
        };
        // A read that hangs (a node or the gateway paused) gives up, so the
        // run's other work goes on.
        self.runtime.block_on(async {
            tokio::time::timeout(READ_WITHIN, read)
                .await
                .unwrap_or_else(|_| {
                    Err(GatewayError::Unreachable {
                        url: url.to_string(),
                        reason: format!("no answer within {READ_WITHIN:?}"),
                    })
                })
        })
    }

    fn expect_read(&mut self, title: &str, reader: &SecretKey, patient: &Address, basis: &str) {
        match self.read(reader, patient, None) {
            Ok(r) => {
                let ok = r.records > 0 && r.all_good() && r.basis == basis;
                self.record(
                    title,
                    &format!("allowed by {basis}, every record decrypted and verified"),
                    format!(
                        "allowed by {}: {} records decrypted with device signatures checked, {} verified against their anchor on chain, {} awaiting their anchor",
                        r.basis, r.decrypted, r.anchored, r.awaiting_anchor
                    ),
                    ok,
                );
            }
            Err(e) => self.record(
                title,
                &format!("allowed by {basis}"),
                format!("refused: {e}"),
                false,
            ),
        }
    }

    /// General's EHR searches `patient`'s Observations through the FHIR API
    /// (acting for the doctor): a searchset of verified Observations.
    fn expect_fhir_search(&mut self, title: &str, patient: &Address) {
        let Some((base, client)) = self.fhir.clone() else {
            return;
        };
        let url = format!("{base}/Observation?patient={patient}&_count=20");
        let answer = self.runtime.block_on(async {
            let r = client
                .get(&url)
                .header("accept", "application/fhir+json")
                .send()
                .await
                .map_err(|e| ehr_transport::explain(&e))?;
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, body))
        });
        let (got, ok) = match answer {
            Ok((200, b)) => {
                let entries = b["entry"].as_array().cloned().unwrap_or_default();
                let matches = entries
                    .iter()
                    .filter(|e| e["search"]["mode"] == "match")
                    .count();
                let profiled = entries
                    .iter()
                    .filter(|e| e["resource"]["meta"]["profile"].is_array())
                    .count();
                (
                    format!("a {} Bundle of {matches} Observations, {profiled} under a vital-signs profile, each verified before it was answered", b["type"].as_str().unwrap_or("?")),
                    b["type"] == "searchset" && matches > 0,
                )
            }
            Ok((status, b)) => (
                format!(
                    "HTTP {status}: {}",
                    b["issue"][0]["diagnostics"].as_str().unwrap_or("")
                ),
                false,
            ),
            Err(e) => (format!("no answer: {e}"), false),
        };
        self.record(title, "a searchset of verified Observations", got, ok);
    }

    /// Waits (10 s at most) for a block after the latest one: its header
    /// proves the state the latest one left.
    fn next_block(&self) {
        self.runtime.block_on(async {
            let now = self.rpc.latest_height().await.unwrap_or(0);
            for _ in 0..100 {
                if self.rpc.latest_height().await.unwrap_or(0) > now {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
    }

    fn expect_refusal(&mut self, title: &str, reader: &SecretKey, patient: &Address) {
        match self.read(reader, patient, None) {
            Ok(r) => self.record(
                title,
                "403 access_denied",
                format!("allowed by {}, {} records", r.basis, r.records),
                false,
            ),
            Err(e) => {
                let ok = e.code() == Some("access_denied");
                self.record(title, "403 access_denied", format!("refused: {e}"), ok);
            }
        }
    }
}
