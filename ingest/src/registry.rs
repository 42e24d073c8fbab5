//! What the ingest service asks the chain, cached: a device's key, binding and
//! status; a patient's key and research consent; who currently holds read
//! access to a patient's vitals. Entries are refreshed after `ttl`; when the
//! chain cannot be reached, the last known answer is used for at most
//! `stale_limit` after it was fetched, so ingest goes on through a short outage
//! — but a device revoked or a grant expired during a long one is not honoured
//! for ever: past the limit, readings wait for the chain.
//! "No such device" and "no such patient" are never remembered: a device bound
//! a moment ago is found at its next reading. A code of the directory is
//! remembered either way (a device sending a code the directory lacks costs
//! one proof, not one a reading), and forgotten when governance changes it.
//!
//! Every answer is proven against a header the validators signed
//! (`rpc::proven`): the patient's key and the readers' keys decide who gets a
//! wrapped data key, so a node's unproven word never adds a reader. An answer
//! that does not prove counts as the chain not answering: readings wait.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ehr_client::read_path::readers;
use ehr_client::rpc::proven::{ProvenError, ProvenState};
use ehr_client::rpc::RpcClient;
use ehr_ledger::crypto::{Address, PublicKey};
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{Category, CodeSystem, Concept, Device, Participant, ParticipantKind};

/// Codes' answers kept at most: senders choose the codes they send, and a
/// code the directory lacks is remembered too.
const MAX_CODES_CACHED: usize = 10_000;

struct Entry<T> {
    value: T,
    fetched: Instant,
}

struct Cache<T> {
    entries: Mutex<HashMap<String, Entry<T>>>,
    /// Past this many entries everything is asked again.
    limit: usize,
}

impl<T: Clone> Cache<T> {
    fn new() -> Self {
        Self::bounded(usize::MAX)
    }

    fn bounded(limit: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            limit,
        }
    }

    fn get(&self, key: &str) -> Option<(T, Duration)> {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.get(key).map(|x| (x.value.clone(), x.fetched.elapsed()))
    }

    fn forget(&self, key: &str) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.remove(key);
    }

    fn forget_all(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn put(&self, key: &str, value: T) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.len() >= self.limit && !e.contains_key(key) {
            e.clear();
        }
        e.insert(
            key.to_string(),
            Entry {
                value,
                fetched: Instant::now(),
            },
        );
    }
}

/// Whether a cached answer says "nothing there" — not worth remembering.
trait Absent {
    fn absent(&self) -> bool;
}

impl<T> Absent for Option<T> {
    fn absent(&self) -> bool {
        self.is_none()
    }
}

/// The directory's answer for a code: "no such code" is an answer too.
#[derive(Clone)]
struct CodeAnswer(Option<Concept>);

impl Absent for CodeAnswer {
    fn absent(&self) -> bool {
        false
    }
}

impl<T> Absent for Vec<T> {
    /// No readers is an answer like any other (a grant is looked for again
    /// after the time to live).
    fn absent(&self) -> bool {
        false
    }
}

pub use ehr_client::read_path::readers::ReaderKey;

pub struct Registry {
    chain: ProvenState,
    ttl: Duration,
    stale_limit: Duration,
    devices: Cache<Option<Device>>,
    patients: Cache<Option<Participant>>,
    readers: Cache<Vec<ReaderKey>>,
    escrow: Cache<Vec<ReaderKey>>,
    codes: Cache<CodeAnswer>,
}

impl Registry {
    pub fn new(chain: ProvenState, ttl: Duration, stale_limit: Duration) -> Self {
        Self {
            chain,
            ttl,
            stale_limit,
            devices: Cache::new(),
            patients: Cache::new(),
            readers: Cache::new(),
            escrow: Cache::new(),
            codes: Cache::bounded(MAX_CODES_CACHED),
        }
    }

    pub fn rpc(&self) -> &RpcClient {
        self.chain.rpc()
    }

    /// The chain's state on proof.
    pub fn chain(&self) -> &ProvenState {
        &self.chain
    }

    /// Drops the cached answer about a patient (their consent changed).
    pub fn forget_patient(&self, address: &Address) {
        self.patients.forget(&address.hex());
    }

    /// Drops the cached readers of a patient's vitals (a grant or revocation
    /// of theirs committed): the next reading asks the chain again, at a
    /// height that holds the change.
    pub fn forget_readers(&self, patient: &Address) {
        self.readers.forget(&patient.hex());
    }

    /// Drops every patient's cached readers and the escrow (a clinician or
    /// a gateway was suspended or reinstated, or the consortium changed its
    /// members: anyone's readers may have changed).
    pub fn forget_all_readers(&self) {
        self.readers.forget_all();
        self.escrow.forget_all();
    }

    /// Drops the cached answer for a code (governance added or retired it).
    pub fn forget_code(&self, system: CodeSystem, code: &str) {
        self.codes.forget(&keys::code(system, code));
    }

    /// The directory's entry for a code, proven (present or absent) at the
    /// newest height a header proves; `None`: no such code.
    pub async fn code(
        &self,
        system: CodeSystem,
        code: &str,
    ) -> Result<Option<Concept>, ProvenError> {
        let key = keys::code(system, code);
        let answer = self
            .cached(&self.codes, &key, async {
                let mut view = self.chain.latest().await?;
                Ok(CodeAnswer(view.get::<Concept>(&key).await?))
            })
            .await?;
        Ok(answer.0)
    }

    /// The value under state key `key`, proven.
    async fn proven<M: prost::Message + Default>(
        &self,
        key: String,
    ) -> Result<Option<M>, ProvenError> {
        let mut view = self.chain.latest().await?;
        if let Some(found) = view.get(&key).await? {
            return Ok(Some(found));
        }
        // Absent at the newest height a header proves: asked again at the
        // newest block once its header comes, so that a device bound a moment
        // ago is found rather than its reading refused for good.
        let height = view.height;
        self.chain.after(height + 1).await?.get(&key).await
    }

    /// A fresh answer, or the cached one if fresh enough, or the stale one if
    /// the chain cannot be reached.
    async fn cached<T: Clone + Absent, F>(
        &self,
        cache: &Cache<T>,
        key: &str,
        fetch: F,
    ) -> Result<T, ProvenError>
    where
        F: std::future::Future<Output = Result<T, ProvenError>>,
    {
        let known = cache.get(key);
        if let Some((value, age)) = &known {
            if *age < self.ttl && !value.absent() {
                return Ok(value.clone());
            }
        }
        match fetch.await {
            Ok(value) => {
                cache.put(key, value.clone());
                Ok(value)
            }
            // A remembered "nothing there" is not used either: the messages
            // wait until the chain answers.
            Err(e) => {
                match known.filter(|(value, age)| !value.absent() && *age <= self.stale_limit) {
                    Some((value, age)) => {
                        tracing::warn!(error = %e, age_s = age.as_secs(), "the chain is unreachable; using the last known answer");
                        Ok(value)
                    }
                    None => Err(e),
                }
            }
        }
    }

    pub async fn device(&self, device_id: &str) -> Result<Option<Device>, ProvenError> {
        self.cached(
            &self.devices,
            device_id,
            self.proven::<Device>(keys::device(device_id)),
        )
        .await
    }

    pub async fn patient(&self, address: &Address) -> Result<Option<Participant>, ProvenError> {
        let p = self
            .cached(
                &self.patients,
                &address.hex(),
                self.proven::<Participant>(keys::participant(address)),
            )
            .await?;
        Ok(p.filter(|p| p.kind == ParticipantKind::Patient as i32))
    }

    /// The patient's guardian and the key they read with now (proven;
    /// cached by the guardian's address with the readers, which a key's
    /// rotation forgets — so a guardian's new key counts from its block).
    pub async fn guardian(&self, p: &Participant) -> Result<Option<ReaderKey>, ProvenError> {
        let Some(named) = PublicKey::from_bytes(&p.guardian_public_key) else {
            return Ok(None);
        };
        let found = self
            .cached(
                &self.readers,
                &format!("guardian:{}", named.address().hex()),
                async {
                    let mut view = self.chain.latest().await?;
                    Ok(readers::guardian(&mut view, p).await?.into_iter().collect())
                },
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// Clinicians who hold, at the chain's time, a current read grant for
    /// the patient's vitals — personally or through their organisation.
    pub async fn vitals_readers(&self, patient: &Address) -> Result<Vec<ReaderKey>, ProvenError> {
        self.cached(&self.readers, &patient.hex(), async {
            let mut view = self.chain.latest().await?;
            readers::grantees(&mut view, patient, Category::Vitals).await
        })
        .await
    }

    /// The break-glass escrow: every active gateway service of a current
    /// member organisation. Each record's key is also wrapped for them, so a
    /// doctor's gateway can re-wrap it for that doctor — only while the chain
    /// shows the doctor's emergency access open (docs/gateway.md).
    pub async fn escrow_keys(&self) -> Result<Vec<ReaderKey>, ProvenError> {
        self.cached(&self.escrow, "escrow", async {
            let mut view = self.chain.latest().await?;
            readers::escrow(&mut view).await
        })
        .await
    }
}
