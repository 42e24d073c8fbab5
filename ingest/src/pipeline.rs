//! From a poll's worth of Kafka messages to what one PostgreSQL transaction
//! writes: each message becomes an encrypted record (with its data key
//! wrapped for the patient and every current reader), a reject with its
//! reason, or — when the same reading was already stored — nothing at all.

use std::collections::HashMap;

use ehr_client::record_encryption::{encrypt_record, wrap_key, DataKey};
use ehr_client::rpc::RpcError;
use ehr_ledger::crypto::{sha256, Address, PublicKey};
use ehr_ledger::proto::{Category, DeviceStatus};
use hmac::{Hmac, Mac};

use crate::reading::{self, Decoded, Reason, Reject};
use crate::registry::Registry;
use crate::store::{DeIdentified, NewRecord, NewReject, Source, Store, StoreError, Wrap};

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
    /// The chain's last block time, for grant expiries.
    pub chain_now: i64,
}

fn refused(message: &Message, reject: Reject, d: Option<&Decoded>) -> Refused {
    Refused {
        message: message.clone(),
        reject,
        device: d.map(|d| (d.reading.device_id.clone(), d.reading.seq)),
    }
}

pub fn process(
    ctx: &Context<'_>,
    store: &mut Store,
    messages: &[Message],
) -> Result<Outcome, Transient> {
    let rt = ctx.runtime;
    let mut out = Outcome {
        records: vec![],
        refused: vec![],
        duplicates: 0,
    };
    let mut accepted: Vec<(Message, Decoded, PublicKey, Address)> = Vec::new();
    for m in messages {
        let d = match reading::oversize(m.size).map_or_else(|| reading::decode(&m.payload), Err) {
            Ok(d) => d,
            Err(r) => {
                out.refused.push(refused(m, r, None));
                continue;
            }
        };
        if let Err(r) = reading::check(&d.reading, ctx.now_ms) {
            out.refused.push(refused(m, r, Some(&d)));
            continue;
        }
        let device = match rt.block_on(ctx.registry.device(&d.reading.device_id))? {
            Some(dev) => dev,
            None => {
                let r = Reject {
                    reason: Reason::UnknownDevice,
                    detail: format!("no device {} is bound on chain", d.reading.device_id),
                };
                out.refused.push(refused(m, r, Some(&d)));
                continue;
            }
        };
        if device.status != DeviceStatus::Active as i32 {
            let r = Reject {
                reason: Reason::RevokedDevice,
                detail: format!("device {} was revoked", d.reading.device_id),
            };
            out.refused.push(refused(m, r, Some(&d)));
            continue;
        }
        let Some(key) = PublicKey::from_bytes(&device.public_key) else {
            let r = Reject {
                reason: Reason::UnknownDevice,
                detail: "the device's registered key is unusable".into(),
            };
            out.refused.push(refused(m, r, Some(&d)));
            continue;
        };
        if let Err(r) = reading::verify(&d, &key) {
            out.refused.push(refused(m, r, Some(&d)));
            continue;
        }
        let Some(patient) = Address::from_slice(&device.patient) else {
            continue;
        };
        accepted.push((m.clone(), d, key, patient));
    }

    // The idempotency key (device, seq): the same reading again is skipped; a
    // different reading under a used sequence number is refused.
    let keys: Vec<(String, i64)> = accepted
        .iter()
        .map(|(_, d, _, _)| (d.reading.device_id.clone(), d.reading.seq as i64))
        .collect();
    let mut seen: HashMap<(String, i64), [u8; 32]> = store.stored(&keys)?;
    for (m, d, _key, patient) in accepted {
        let k = (d.reading.device_id.clone(), d.reading.seq as i64);
        if let Some(hash) = seen.get(&k) {
            if *hash == d.content_hash() {
                out.duplicates += 1;
            } else {
                let r = Reject {
                    reason: Reason::SequenceReused,
                    detail: format!(
                        "device {} already sent a different reading with seq {}",
                        k.0, k.1
                    ),
                };
                out.refused.push(refused(&m, r, Some(&d)));
            }
            continue;
        }
        seen.insert(k.clone(), d.content_hash());
        let Some(patient_record) = rt.block_on(ctx.registry.patient(&patient))? else {
            let r = Reject {
                reason: Reason::UnknownPatient,
                detail: "the device's patient is not registered".into(),
            };
            out.refused.push(refused(&m, r, Some(&d)));
            continue;
        };
        let Some(patient_key) = PublicKey::from_bytes(&patient_record.public_key) else {
            continue;
        };
        let mut readers = rt.block_on(ctx.registry.vitals_readers(&patient, ctx.chain_now))?;
        readers.extend(rt.block_on(ctx.registry.escrow_keys())?);

        let record_id = record_id(&d.reading.device_id, d.reading.seq);
        let data_key = DataKey::generate();
        // The signed reading is what is encrypted: a reader can check the
        // device's signature after decrypting.
        let ciphertext = encrypt_record(&data_key, &record_id, &d.canonical());
        let mut wraps = vec![Wrap {
            reader: patient.to_string(),
            reader_public_key: patient_key.to_bytes().to_vec(),
            wrapped_key: wrap_key(&patient_key, &record_id, &data_key),
        }];
        let mut wrapped_for = vec![patient];
        for r in &readers {
            if wrapped_for.contains(&r.address) {
                continue;
            }
            wrapped_for.push(r.address);
            wraps.push(Wrap {
                reader: r.address.to_string(),
                reader_public_key: r.key.to_bytes().to_vec(),
                wrapped_key: wrap_key(&r.key, &record_id, &data_key),
            });
        }
        let analytics = patient_record.research_consent.then(|| DeIdentified {
            pseudonym: pseudonym(ctx.pseudonym_secret, &patient),
            value: d.reading.value,
            unit: d.reading.unit.clone(),
        });
        out.records.push(NewRecord {
            source: Source {
                topic: m.topic.clone(),
                partition: m.partition,
                offset: m.offset,
                payload_sha256: m.sha256,
                payload_size: m.size.min(i32::MAX as usize) as i32,
            },
            ciphertext_sha256: sha256(&ciphertext),
            record_id,
            device_id: d.reading.device_id.clone(),
            device_seq: d.reading.seq as i64,
            content_sha256: d.content_hash(),
            patient: patient.to_string(),
            category: Category::Vitals as i16,
            loinc: d.reading.loinc.clone(),
            measured_at_ms: d.reading.measured_at_ms,
            ciphertext,
            wraps,
            analytics,
        });
    }
    Ok(out)
}
