//! From a poll's worth of Kafka messages to what one PostgreSQL transaction
//! writes: each message becomes an encrypted record, a reject with its
//! reason, or — when the same reading was already stored — nothing at all.
//! A patient's readings of one poll share one data key, wrapped once for the
//! patient and each current reader (envelope v2, docs/ingest.md): the
//! wrapping, an ECDH per reader, was most of a reading's cost when each
//! reading had a key of its own. Signatures are verified on every core.

use std::collections::HashMap;
use std::sync::Arc;

use ehr_client::record_encryption::{encrypt_record, fresh_key_id, DataKey};
use ehr_client::rpc::RpcError;
use ehr_ledger::crypto::{sha256, Address, PublicKey};
use ehr_ledger::proto::{Category, CodeSystem, Concept, DeviceStatus};
use ehr_ledger::tx::validate;
use hmac::{Hmac, Mac};
use rayon::prelude::*;

use crate::keyring::{KeyRing, OpenKey};
use crate::reading::{self, ContentHash, Decoded, Reason, Reject};
use crate::registry::Registry;
use crate::store::{DeIdentified, NewKey, NewRecord, NewReject, Source, Store, StoreError};

/// A message as consumed.
#[derive(Clone, Debug)]
pub struct Message {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The payload, or nothing when it is larger than a reading may be.
    pub payload: Vec<u8>,
    /// The payload's size and SHA-256, whatever its size.
    pub size: usize,
    pub sha256: [u8; 32],
}

impl Message {
    /// Copies the payload only when a reading could be that large: an
    /// oversize message is kept as its size and hash alone.
    pub fn new(topic: &str, partition: i32, offset: i64, payload: &[u8]) -> Message {
        let kept = if payload.len() > reading::MAX_MESSAGE_BYTES {
            Vec::new()
        } else {
            payload.to_vec()
        };
        Message {
            topic: topic.to_string(),
            partition,
            offset,
            payload: kept,
            size: payload.len(),
            sha256: sha256(payload),
        }
    }
}

/// A refused message, with what the dead-letter topic needs.
pub struct Refused {
    pub message: Message,
    pub reject: Reject,
    pub device: Option<(String, u64)>,
}

pub struct Outcome {
    pub records: Vec<NewRecord>,
    pub refused: Vec<Refused>,
    /// Readings already stored (a redelivery after a crash): skipped.
    pub duplicates: usize,
}

impl Outcome {
    pub fn rejects(&self) -> Vec<NewReject> {
        self.refused
            .iter()
            .map(|r| NewReject {
                reason: r.reject.reason.as_str().to_string(),
                detail: r.reject.detail.clone(),
                device_id: r.device.as_ref().map(|(d, _)| d.clone()),
                device_seq: r.device.as_ref().map(|(_, s)| *s as i64),
                topic: r.message.topic.clone(),
                partition: r.message.partition,
                offset: r.message.offset,
                payload_sha256: r.message.sha256,
                payload_size: r.message.size.min(i32::MAX as usize) as i32,
            })
            .collect()
    }
}

/// Errors that are nobody's fault in the message: retry the same messages later.
#[derive(Debug, thiserror::Error)]
pub enum Transient {
    #[error("the chain: {0}")]
    Chain(#[from] RpcError),
    #[error("the chain's answer: {0}")]
    Unproven(#[from] ehr_client::rpc::proven::ProvenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stable pseudonym for analytics: HMAC-SHA256 of the patient address under
/// the service's pseudonym secret (not derivable without it).
pub fn pseudonym(secret: &[u8], patient: &Address) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&patient.0);
    format!("p-{}", hex::encode(&mac.finalize().into_bytes()[..16]))
}

/// The record id of a device reading: `<device>:<seq>`, or a hash form when that
/// would exceed the ledger's 64 characters.
pub fn record_id(device_id: &str, seq: u64) -> String {
    let plain = format!("{device_id}:{seq}");
    if plain.len() <= 64 {
        plain
    } else {
        format!("h:{}", &hex::encode(sha256(plain.as_bytes()))[..40])
    }
}

pub struct Context<'a> {
    /// Runs the registry's lookups (the pipeline itself is synchronous, as is
    /// the PostgreSQL client).
    pub runtime: &'a tokio::runtime::Runtime,
    pub registry: &'a Registry,
    pub pseudonym_secret: &'a [u8],
    /// The service's clock, for plausibility of measurement times.
    pub now_ms: i64,
    /// Research consent withdrawals followed on chain: no analytics rows.
    pub withdrawals: &'a crate::withdrawals::Withdrawals,
    pub metrics: &'a crate::metrics::Metrics,
    /// The patients' keys open for writing.
    pub keys: &'a KeyRing,
}

fn refused(message: &Message, reject: Reject, d: Option<&Decoded>) -> Refused {
    Refused {
        message: message.clone(),
        reject,
        device: d.map(|d| (d.reading.device_id.clone(), d.reading.seq)),
    }
}

/// A message that decoded, passed its checks and names an active device.
struct Candidate {
    message: Message,
    decoded: Decoded,
    device_key: PublicKey,
    patient: Address,
}

/// One patient's share of a poll: one data key for all their readings in it
/// — the patient's open key (`keyring`) when it is wrapped for the readers
/// the chain names now, else a new one wrapped for each of them.
struct KeyGroup {
    patient: Address,
    /// The patient's analytics pseudonym, when they consent to research:
    /// one HMAC per group rather than per reading.
    pseudonym: Option<String>,
}

enum GroupKey {
    Open(Arc<OpenKey>),
    /// To be wrapped for the readers (addresses and keys, the patient first).
    New {
        key_id: String,
        data_key: DataKey,
        readers: Vec<(Address, PublicKey)>,
    },
}

/// Checks, verifies, encrypts: a poll's messages become records (in the
/// order of the messages: their leaf order), refusals and duplicates.
pub fn process(
    ctx: &Context<'_>,
    store: &mut Store,
    messages: &[Message],
) -> Result<Outcome, Transient> {
    let mut out = Outcome {
        records: vec![],
        refused: vec![],
        duplicates: 0,
    };
    let candidates = admit(ctx, messages, &mut out)?;

    // The device's signature, on every core: the costliest step of a reading.
    let verdicts: Vec<Result<(), Reject>> = candidates
        .par_iter()
        .map(|c| reading::verify(&c.decoded, &c.device_key))
        .collect();
    let mut verified = Vec::with_capacity(candidates.len());
    for (c, verdict) in candidates.into_iter().zip(verdicts) {
        match verdict {
            Ok(()) => verified.push(c),
            Err(r) => out.refused.push(refused(&c.message, r, Some(&c.decoded))),
        }
    }

    let verified = check_codes(ctx, verified, &mut out)?;
    let fresh = drop_duplicates(store, verified, &mut out)?;
    let (groups, grouped) = key_groups(ctx, fresh, &mut out)?;
    let keys = open_keys(groups);
    out.records = grouped
        .par_iter()
        .map(|(c, g)| seal(c, &keys[*g]))
        .collect();
    let mut counts = vec![0u64; keys.len()];
    for (_, g) in &grouped {
        counts[*g] += 1;
    }
    for ((group, key), n) in keys.iter().zip(counts) {
        ctx.keys.used(group.patient, key, n);
    }
    Ok(out)
}

/// Decoding, shape and plausibility, and the device's standing on chain
/// (answers cached by the registry): everything but the signature.
fn admit(
    ctx: &Context<'_>,
    messages: &[Message],
    out: &mut Outcome,
) -> Result<Vec<Candidate>, Transient> {
    let rt = ctx.runtime;
    let mut candidates = Vec::with_capacity(messages.len());
    // A compressed key is decompressed (a square root) once per device and
    // poll, not once per reading: that was 7 % of the service's CPU.
    let mut device_keys: HashMap<Vec<u8>, Option<PublicKey>> = HashMap::new();
    for m in messages {
        let d = match reading::oversize(m.size).map_or_else(|| reading::decode(&m.payload), Err) {
            Ok(d) => d,
            Err(r) => {
                out.refused.push(refused(m, r, None));
                continue;
            }
        };
        if let Err(r) = reading::shape(&d.reading, ctx.now_ms) {
            out.refused.push(refused(m, r, Some(&d)));
            continue;
        }
        let refuse = |reason, detail: String| Reject { reason, detail };
        let device = match rt.block_on(ctx.registry.device(&d.reading.device_id))? {
            Some(dev) => dev,
            None => {
                let detail = format!("no device {} is bound on chain", d.reading.device_id);
                out.refused
                    .push(refused(m, refuse(Reason::UnknownDevice, detail), Some(&d)));
                continue;
            }
        };
        let standing = if device.status != DeviceStatus::Active as i32 {
            Err(refuse(
                Reason::RevokedDevice,
                format!("device {} was revoked", d.reading.device_id),
            ))
        } else {
            let key = device_keys
                .entry(device.public_key.clone())
                .or_insert_with(|| PublicKey::from_bytes(&device.public_key));
            match (key.clone(), Address::from_slice(&device.patient)) {
                (Some(key), Some(patient)) => Ok((key, patient)),
                (None, _) => Err(refuse(
                    Reason::UnknownDevice,
                    "the device's registered key is unusable".into(),
                )),
                (_, None) => Err(refuse(
                    Reason::UnknownPatient,
                    "the device is bound to no usable patient address".into(),
                )),
            }
        };
        // The code's shape here; the code itself once the signature holds
        // (`check_codes`).
        let standing = match standing {
            Ok(_) if validate::loinc("loinc", &d.reading.loinc).is_err() => Err(refuse(
                Reason::UnsupportedCode,
                format!("{:?} is not a LOINC code", d.reading.loinc),
            )),
            other => other,
        };
        match standing {
            Ok((device_key, patient)) => candidates.push(Candidate {
                message: m.clone(),
                decoded: d,
                device_key,
                patient,
            }),
            Err(r) => out.refused.push(refused(m, r, Some(&d))),
        }
    }
    Ok(candidates)
}

/// Each signed reading against its code in the consortium's directory
/// (proven, cached; each distinct code of the poll asked once): only
/// messages a registered device signed cost a look-up.
fn check_codes(
    ctx: &Context<'_>,
    verified: Vec<Candidate>,
    out: &mut Outcome,
) -> Result<Vec<Candidate>, Transient> {
    let mut concepts: HashMap<String, Option<Concept>> = HashMap::new();
    let mut kept = Vec::with_capacity(verified.len());
    for c in verified {
        let code = &c.decoded.reading.loinc;
        if !concepts.contains_key(code) {
            let found = ctx
                .runtime
                .block_on(ctx.registry.code(CodeSystem::Loinc, code))?;
            concepts.insert(code.clone(), found);
        }
        match reading::against(&c.decoded.reading, concepts[code].as_ref()) {
            Ok(()) => kept.push(c),
            Err(r) => out.refused.push(refused(&c.message, r, Some(&c.decoded))),
        }
    }
    Ok(kept)
}

/// The idempotency key (device, seq): the same reading again is skipped; a
/// different reading under a used sequence number is refused.
fn drop_duplicates(
    store: &mut Store,
    verified: Vec<Candidate>,
    out: &mut Outcome,
) -> Result<Vec<Candidate>, Transient> {
    let keys: Vec<(String, i64, i64)> = verified
        .iter()
        .map(|c| {
            let r = &c.decoded.reading;
            (r.device_id.clone(), r.seq as i64, r.measured_at_ms)
        })
        .collect();
    let mut seen: HashMap<(String, i64), ContentHash> = store.stored(&keys)?;
    let mut fresh = Vec::with_capacity(verified.len());
    for (c, (device, seq, _)) in verified.into_iter().zip(keys) {
        let k = (device, seq);
        let hash = c.decoded.content_hash();
        match seen.get(&k) {
            Some(stored) if *stored == hash => out.duplicates += 1,
            Some(_) => {
                let r = Reject {
                    reason: Reason::SequenceReused,
                    detail: format!(
                        "device {} already sent a different reading with seq {}",
                        k.0, k.1
                    ),
                };
                out.refused.push(refused(&c.message, r, Some(&c.decoded)));
            }
            None => {
                seen.insert(k, hash);
                fresh.push(c);
            }
        }
    }
    Ok(fresh)
}

/// One data key per patient of the poll, with the readers the chain names
/// for the patient's vitals now (asked once per patient, not per reading);
/// each reading paired with its group's index.
#[allow(clippy::type_complexity)]
fn key_groups(
    ctx: &Context<'_>,
    fresh: Vec<Candidate>,
    out: &mut Outcome,
) -> Result<(Vec<(KeyGroup, GroupKey)>, Vec<(Candidate, usize)>), Transient> {
    let mut groups: Vec<(KeyGroup, GroupKey)> = Vec::new();
    let mut index: HashMap<Address, Option<usize>> = HashMap::new();
    let mut grouped = Vec::with_capacity(fresh.len());
    for c in fresh {
        let g = match index.get(&c.patient) {
            Some(g) => *g,
            None => {
                let g = key_group(ctx, c.patient)?.map(|group| {
                    groups.push(group);
                    groups.len() - 1
                });
                index.insert(c.patient, g);
                g
            }
        };
        match g {
            Some(g) => grouped.push((c, g)),
            None => {
                let r = Reject {
                    reason: Reason::UnknownPatient,
                    detail: "the device's patient is not registered with a usable key".into(),
                };
                out.refused.push(refused(&c.message, r, Some(&c.decoded)));
            }
        }
    }
    Ok((groups, grouped))
}

/// A fresh key for `patient` with the readers the chain names now; none when
/// the patient is not registered with a usable key.
fn key_group(
    ctx: &Context<'_>,
    patient: Address,
) -> Result<Option<(KeyGroup, GroupKey)>, Transient> {
    let rt = ctx.runtime;
    let Some(p) = rt.block_on(ctx.registry.patient(&patient))? else {
        return Ok(None);
    };
    let Some(patient_key) = PublicKey::from_bytes(&p.public_key) else {
        return Ok(None);
    };
    let mut readers = vec![(patient, patient_key)];
    // Her guardian reads what she reads (the ledger lets them act for her),
    // with the key they hold now.
    if let Some(g) = rt.block_on(ctx.registry.guardian(&p))? {
        readers.push((g.address, g.key));
    }
    let escrow = rt.block_on(ctx.registry.escrow_keys())?;
    if escrow.is_empty() {
        // Stored all the same (the patient and her grantees read it), but no
        // gateway can open it in an emergency: the operators must know.
        ctx.metrics.keys_without_escrow.inc();
        tracing::warn!(
            "a data key is wrapped for no break-glass gateway: the chain names no active gateway \
             of a current member, so emergency reads of these readings get no key"
        );
    }
    let others = rt
        .block_on(ctx.registry.vitals_readers(&patient))?
        .into_iter()
        .chain(escrow);
    for r in others {
        if !readers.iter().any(|(a, _)| *a == r.address) {
            readers.push((r.address, r.key));
        }
    }
    let key = match ctx.keys.reusable(&patient, &readers, 0) {
        Some(open) => GroupKey::Open(open),
        None => GroupKey::New {
            key_id: fresh_key_id(),
            data_key: DataKey::generate(),
            readers,
        },
    };
    let group = KeyGroup {
        patient,
        pseudonym: (p.research_consent && !ctx.withdrawals.is_withdrawn(&patient))
            .then(|| pseudonym(ctx.pseudonym_secret, &patient)),
    };
    Ok(Some((group, key)))
}

/// Each group's key: its open one, or a new one wrapped for each of its
/// readers (ECIES, one ephemeral key per wrap), groups spread over the cores.
fn open_keys(groups: Vec<(KeyGroup, GroupKey)>) -> Vec<(KeyGroup, Arc<OpenKey>)> {
    groups
        .into_par_iter()
        .map(|(g, key)| {
            let key = match key {
                GroupKey::Open(open) => open,
                GroupKey::New {
                    key_id,
                    data_key,
                    readers,
                } => {
                    let stored = NewKey::wrapped_for(key_id, &data_key, &readers);
                    Arc::new(OpenKey::new(data_key, Arc::new(stored), readers))
                }
            };
            (g, key)
        })
        .collect()
}

/// A reading encrypted under its group's key: its own nonce, its record id
/// in the associated data.
fn seal(c: &Candidate, (group, key): &(KeyGroup, Arc<OpenKey>)) -> NewRecord {
    let (m, d) = (&c.message, &c.decoded);
    let record_id = record_id(&d.reading.device_id, d.reading.seq);
    // The signed reading is what is encrypted: a reader can check the
    // device's signature after decrypting.
    let ciphertext = encrypt_record(&key.data_key, &record_id, &d.canonical());
    let analytics = group.pseudonym.as_ref().map(|pseudonym| DeIdentified {
        pseudonym: pseudonym.clone(),
        value: d.reading.value,
        unit: d.reading.unit.clone(),
    });
    NewRecord {
        source: Source {
            topic: m.topic.clone(),
            partition: m.partition,
            offset: m.offset,
            payload_sha256: m.sha256,
            payload_size: m.size.min(i32::MAX as usize) as i32,
        },
        ciphertext_sha256: sha256(&ciphertext),
        device_id: d.reading.device_id.clone(),
        device_seq: d.reading.seq as i64,
        content_hash: d.content_hash(),
        patient: group.patient.to_string(),
        category: Category::Vitals as i16,
        loinc: d.reading.loinc.clone(),
        measured_at_ms: d.reading.measured_at_ms,
        ciphertext,
        key: Arc::clone(&key.stored),
        analytics,
    }
}
