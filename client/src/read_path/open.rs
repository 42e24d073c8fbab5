//! Opening a record on the reader's side. Nothing the gateway says is taken on
//! trust: the data key must unwrap with the reader's own key, the ciphertext
//! must hash to its Merkle leaf and decrypt (AES-GCM authenticates it and the
//! record id), the device's signature must verify with the key bound on chain,
//! that device must be bound to the patient whose records were asked for (a
//! record moved to another patient in storage is caught), and the leaf's path
//! must lead to the root anchored on chain. The device and the anchor are read
//! with state proofs, checked against the app hash.
//!
//! Under CometBFT the app hash comes from a block header verified by the
//! validators' signatures (`rpc::light`), so the node the reader asks need not
//! be trusted: a node that lies about a header, an anchor or a device is
//! caught. Under the dev sequencer there are no validators to check: the
//! reader trusts the sequencer only when told to by its own configuration
//! (`TrustRoot::DevSequencer`, the CLI's `--trust-dev-sequencer`), and `Trust`
//! says so. What the node says about itself never chooses the mode: a node
//! that calls itself a sequencer while a genesis file is at hand is refused.
//!
//! Every state proof is checked against the key the reader derives from the
//! path it asked (`ledger::query::state_key`), never the key the node names.

use std::collections::HashMap;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use prost::Message;

use super::api::{DocumentItem, RecordItem};
use crate::record_encryption::{decrypt_record, unwrap_key};
use crate::rpc::trust::{Anchor, TrustError};
pub use crate::rpc::trust::{Trust, TrustRoot};
use crate::rpc::{RpcClient, RpcError};
use ehr_ledger::crypto::{merkle, sha256, verify_signature, PublicKey, SecretKey};
use ehr_ledger::proto::{Device, Reading, SignedReading, StoredBatchAnchor, StoredRecordAnchor};
use ehr_ledger::storage::verify_proof;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("no data key is wrapped for you: if the patient granted you access after this record was written, ask them to re-wrap past records for you (ehr rewrap)")]
    NoKey,
    #[error("the answer is malformed: {0}")]
    Malformed(String),
    #[error(
        "the ciphertext's SHA-256 is not the record's: it was altered in storage or on the way"
    )]
    HashMismatch,
    #[error(
        "the wrapped key does not open with your key: it was wrapped for another key or altered"
    )]
    KeyUnwrap,
    #[error("the ciphertext does not decrypt with its key: it was altered (AES-GCM authentication failed)")]
    Decrypt,
    #[error("the decrypted reading is not a signed reading from device {0}")]
    NotAReading(String),
}

/// A decrypted record: the reading and the device's signature over it.
#[derive(Clone, Debug, PartialEq)]
pub struct Opened {
    pub record_id: String,
    pub reading: Reading,
    pub signed_bytes: Vec<u8>,
    pub signature: Vec<u8>,
}

fn b64(field: &str, s: &str) -> Result<Vec<u8>, OpenError> {
    B64.decode(s)
        .map_err(|_| OpenError::Malformed(format!("{field} is not base64")))
}

/// A ciphertext as the gateway serves it (base64, its hex SHA-256, the key
/// wrapped for the reader under `key_id`) checked against its hash, its key
/// unwrapped with the reader's key, and decrypted: records and documents alike.
pub fn unseal(
    record_id: &str,
    key_id: &str,
    ciphertext: &str,
    ciphertext_sha256: &str,
    wrapped_key: Option<&str>,
    reader: &SecretKey,
) -> Result<Vec<u8>, OpenError> {
    let ciphertext = b64("ciphertext", ciphertext)?;
    let hash = hex::decode(ciphertext_sha256)
        .map_err(|_| OpenError::Malformed("ciphertext_sha256 is not hex".into()))?;
    if sha256(&ciphertext).as_slice() != hash.as_slice() {
        return Err(OpenError::HashMismatch);
    }
    let wrapped = b64("wrapped_key", wrapped_key.ok_or(OpenError::NoKey)?)?;
    let key = unwrap_key(reader, key_id, &wrapped).map_err(|_| OpenError::KeyUnwrap)?;
    decrypt_record(&key, record_id, &ciphertext).map_err(|_| OpenError::Decrypt)
}

/// Checks the ciphertext against its leaf hash, unwraps the key and decrypts.
pub fn decrypt(item: &RecordItem, reader: &SecretKey) -> Result<Opened, OpenError> {
    let plain = unseal(
        &item.record_id,
        &item.key_id,
        &item.ciphertext,
        &item.ciphertext_sha256,
        item.wrapped_key.as_deref(),
        reader,
    )?;
    let signed = SignedReading::decode(plain.as_slice())
        .map_err(|_| OpenError::NotAReading(item.device_id.clone()))?;
    let reading = Reading::decode(signed.reading.as_slice())
        .map_err(|_| OpenError::NotAReading(item.device_id.clone()))?;
    if reading.device_id != item.device_id {
        return Err(OpenError::NotAReading(item.device_id.clone()));
    }
    Ok(Opened {
        record_id: item.record_id.clone(),
        reading,
        signed_bytes: signed.reading,
        signature: signed.signature,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("not anchored yet: its batch is waiting for the chain; try again in a few seconds")]
    NotAnchored,
    #[error("the chain cannot be asked: {0}")]
    Chain(#[from] RpcError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error("{0} names no single state key: it cannot be proven")]
    NotProvable(String),
    #[error("the chain holds no anchor for batch {batch_id} of service {service}")]
    NoAnchor { service: String, batch_id: u64 },
    #[error(
        "the chain's state proof for {path} does not verify against the app hash at height {height}: the node answered something the validators did not commit"
    )]
    StateProof { path: String, height: u64 },
    #[error("the Merkle path does not lead to the root anchored on chain at height {0}: the record is not the one anchored")]
    MerklePath(u64),
    #[error("device {0} is not known on chain")]
    UnknownDevice(String),
    #[error("device {device} is bound on chain to patient {bound_to}, not to {asked}: this record is not the asked patient's (moved or mislabelled in storage)")]
    OtherPatient {
        device: String,
        bound_to: String,
        asked: String,
    },
    #[error("the chain anchors no record {0}: the document was never anchored, or not yet")]
    DocumentNotAnchored(String),
    #[error("record {0} is anchored on chain with another hash, patient or category: the stored document is not the one anchored")]
    NotTheAnchored(String),
    #[error("the device's signature does not verify with the key bound on chain for {0}")]
    DeviceSignature(String),
    #[error("the answer is malformed: {0}")]
    Malformed(String),
    #[error("the gateway serves {record} as erased by erasure {erasure}, which the chain does not show covering it: the record is withheld without a reason the patient gave — tell the hospital that stores it")]
    NotErased { record: String, erasure: u64 },
}

/// A batch anchor as the chain holds it, proven against an app hash.
#[derive(Clone, Debug)]
struct ChainAnchor {
    root: [u8; 32],
    count: u64,
    height: u64,
}

/// The state key `path` names, derived here from the path asked.
fn derived_key(path: &str) -> Result<Vec<u8>, VerifyError> {
    match ehr_ledger::ledger::query::state_key(path) {
        Ok(Some(key)) => Ok(key.into_bytes()),
        _ => Err(VerifyError::NotProvable(path.to_string())),
    }
}

/// What an amendment made of an anchored document, as its proven anchor
/// says (docs/ledger.md, amendment): empty strings and 0 when nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AmendmentLinks {
    /// The correction that supersedes it.
    pub superseded_by: String,
    /// For a correction: the record it corrects.
    pub amends: String,
    /// For a record of an amendment (request, correction, explanation,
    /// disagreement): its number.
    pub amendment_id: u64,
}

impl AmendmentLinks {
    /// A line for a person, or `None` when no amendment touched it.
    pub fn describe(&self) -> Option<String> {
        if !self.superseded_by.is_empty() {
            return Some(format!(
                "SUPERSEDED by {}: read the correction",
                self.superseded_by
            ));
        }
        if !self.amends.is_empty() {
            return Some(format!(
                "corrects {} (amendment {})",
                self.amends, self.amendment_id
            ));
        }
        (self.amendment_id != 0).then(|| format!("of amendment {}", self.amendment_id))
    }
}

/// Verifies records against the chain, remembering what it already asked.
pub struct ChainVerifier {
    anchor: std::sync::Arc<Anchor>,
    anchors: HashMap<(String, u64), ChainAnchor>,
    devices: HashMap<String, Device>,
    app_hashes: HashMap<u64, [u8; 32]>,
    /// The height anchors are read at: one app hash serves many batches.
    pinned: Option<u64>,
}

impl ChainVerifier {
    /// A verifier for the node at `rpc`, trusting what `root` (local
    /// configuration) says: under a genesis file it checks headers by the
    /// validators' signatures; it trusts a dev sequencer only when told to.
    pub async fn connect(rpc: RpcClient, root: &TrustRoot) -> Result<(Self, Trust), VerifyError> {
        let anchor = std::sync::Arc::new(Anchor::connect(rpc, root).await?);
        let trust = anchor.trust().clone();
        Ok((Self::over(anchor), trust))
    }

    /// The headers' source, to read more proven state over the same checks.
    pub fn headers(&self) -> &std::sync::Arc<Anchor> {
        &self.anchor
    }

    /// A verifier over headers a long-lived service already checks (its
    /// light client shared by every request).
    pub fn over(anchor: std::sync::Arc<Anchor>) -> Self {
        Self {
            anchor,
            anchors: HashMap::new(),
            devices: HashMap::new(),
            app_hashes: HashMap::new(),
            pinned: None,
        }
    }

    /// The erasure the gateway says shredded record `record_id` (of
    /// `category`, anchored at `height`), proven, and covering it
    /// (`erasure::covers`): what a reader is shown instead of the record.
    pub async fn verify_erasure(
        &mut self,
        id: u64,
        record_id: &str,
        category: &str,
        height: u64,
        patient: &ehr_ledger::crypto::Address,
    ) -> Result<ehr_ledger::proto::Erasure, VerifyError> {
        let path = format!("/erasure/{id}");
        let mut found = self.proven::<ehr_ledger::proto::Erasure>(&path).await?;
        if found.is_none() {
            found = self
                .proven_at::<ehr_ledger::proto::Erasure>(&path, 0)
                .await?;
        }
        let category = ehr_ledger::ledger::access::category_named(category).unwrap_or_default();
        found
            .filter(|e| {
                e.patient == patient.0
                    && ehr_ledger::ledger::actions::erasure::covers(e, record_id, category, height)
            })
            .ok_or(VerifyError::NotErased {
                record: record_id.to_string(),
                erasure: id,
            })
    }

    /// The record's leaf, path and root against the anchor on chain; the
    /// anchor's height when everything holds.
    pub async fn verify_anchor(&mut self, item: &RecordItem) -> Result<u64, VerifyError> {
        let a = item.anchor.as_ref().ok_or(VerifyError::NotAnchored)?;
        let chain = self.anchor(&a.service, a.batch_id).await?;
        let leaf = hex::decode(&item.ciphertext_sha256)
            .map_err(|_| VerifyError::Malformed("ciphertext_sha256 is not hex".into()))?;
        let path = a
            .path
            .iter()
            .map(|h| {
                hex::decode(h)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| VerifyError::Malformed("a path hash is not 32 hex bytes".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if merkle::verify(
            &chain.root,
            &leaf,
            a.leaf_index as usize,
            chain.count as usize,
            &path,
        ) {
            Ok(chain.height)
        } else {
            Err(VerifyError::MerklePath(chain.height))
        }
    }

    /// The device's signature over the decrypted reading, with its key on
    /// chain, and the device bound to `patient` (the one whose records were
    /// asked for): the record is that patient's reading.
    pub async fn verify_device(
        &mut self,
        opened: &Opened,
        patient: &ehr_ledger::crypto::Address,
    ) -> Result<(), VerifyError> {
        let id = &opened.reading.device_id;
        // A device id is bound once, to one patient, for ever (ids are never
        // reused): what the pinned height says of it holds at every later one.
        let device = match self.devices.get(id) {
            Some(d) => d.clone(),
            None => {
                let path = format!("/device/{id}");
                let mut device = self.proven::<Device>(&path).await?;
                if device.is_none() {
                    // Bound after the pinned height: ask at the latest one.
                    device = self.proven_at::<Device>(&path, 0).await?;
                }
                let device = device.ok_or_else(|| VerifyError::UnknownDevice(id.clone()))?;
                self.devices.insert(id.clone(), device.clone());
                device
            }
        };
        if device.patient.as_slice() != patient.0.as_slice() {
            return Err(VerifyError::OtherPatient {
                device: id.clone(),
                bound_to: ehr_ledger::crypto::Address::from_slice(&device.patient)
                    .map_or_else(|| hex::encode(&device.patient), |a| a.to_string()),
                asked: patient.to_string(),
            });
        }
        let key = PublicKey::from_bytes(&device.public_key)
            .ok_or_else(|| VerifyError::UnknownDevice(id.clone()))?;
        verify_signature(&key, &opened.signed_bytes, &opened.signature)
            .map_err(|_| VerifyError::DeviceSignature(id.clone()))
    }

    /// A document's ciphertext against its record anchor on chain (read with
    /// a state proof): same hash, same patient, same category. The height it
    /// was anchored at.
    /// The document's anchor, proven: its height, and what an amendment
    /// made of it (superseded, a correction, a record of an amendment).
    pub async fn verify_document(
        &mut self,
        item: &DocumentItem,
        patient: &ehr_ledger::crypto::Address,
    ) -> Result<(u64, AmendmentLinks), VerifyError> {
        let path = format!("/record/{}", item.record_id);
        let mut anchor = self.proven::<StoredRecordAnchor>(&path).await?;
        if anchor.is_none() {
            // Anchored after the pinned height: ask at the latest one.
            anchor = self.proven_at::<StoredRecordAnchor>(&path, 0).await?;
        }
        let anchor =
            anchor.ok_or_else(|| VerifyError::DocumentNotAnchored(item.record_id.clone()))?;
        let record = anchor.record.unwrap_or_default();
        let hash = hex::decode(&item.ciphertext_sha256).unwrap_or_default();
        let category = ehr_ledger::ledger::access::category_name(
            ehr_ledger::proto::Category::try_from(record.category).unwrap_or_default(),
        );
        if record.ciphertext_sha256 != hash
            || record.patient.as_slice() != patient.0.as_slice()
            || category != item.category
        {
            return Err(VerifyError::NotTheAnchored(item.record_id.clone()));
        }
        Ok((
            anchor.height as u64,
            AmendmentLinks {
                superseded_by: anchor.superseded_by,
                amends: anchor.amends,
                amendment_id: anchor.amendment_id,
            },
        ))
    }

    /// A query answer at the pinned height (the latest the first time),
    /// checked by its state proof against the app hash.
    /// The height reads start at: the one pinned, or the block before the
    /// latest — whose app hash the latest header already carries, so proving
    /// it waits for no new block.
    async fn start_height(&mut self) -> Result<u64, VerifyError> {
        if let Some(h) = self.pinned {
            return Ok(h);
        }
        let latest = self.anchor.rpc().latest_height().await?;
        let h = latest.saturating_sub(1).max(1);
        self.pinned = Some(h);
        Ok(h)
    }

    /// `path` at the pinned height, with its proof checked.
    async fn proven<M: Message + Default>(&mut self, path: &str) -> Result<Option<M>, VerifyError> {
        let height = self.start_height().await?;
        self.proven_at(path, height).await
    }

    /// `path` at `height` (0: the latest, which becomes the pinned height),
    /// with its proof checked.
    async fn proven_at<M: Message + Default>(
        &mut self,
        path: &str,
        height: u64,
    ) -> Result<Option<M>, VerifyError> {
        let answer = self
            .anchor
            .rpc()
            .query_proven::<M>(path, height, true)
            .await?;
        self.pinned = Some(answer.height);
        let unproven = || VerifyError::StateProof {
            path: path.to_string(),
            height: answer.height,
        };
        let proof = answer.proof.as_ref().ok_or_else(unproven)?;
        let app_hash = self.app_hash_after(answer.height).await?;
        let value = answer.value.is_some().then_some(answer.raw.as_slice());
        verify_proof(app_hash, &derived_key(path)?, value, proof).map_err(|_| unproven())?;
        Ok(answer.value)
    }

    async fn anchor(&mut self, service: &str, batch_id: u64) -> Result<ChainAnchor, VerifyError> {
        let k = (service.to_string(), batch_id);
        if let Some(a) = self.anchors.get(&k) {
            return Ok(a.clone());
        }
        let path = format!("/batch/{service}/{batch_id}");
        // At the pinned height first; a batch anchored since is read at the
        // latest height, which becomes the pinned one.
        let start = self.start_height().await?;
        let mut answer = self
            .anchor
            .rpc()
            .query_proven::<StoredBatchAnchor>(&path, start, true)
            .await?;
        if answer.value.is_none() {
            answer = self
                .anchor
                .rpc()
                .query_proven::<StoredBatchAnchor>(&path, 0, true)
                .await?;
        }
        self.pinned = Some(answer.height);
        let no_anchor = || VerifyError::NoAnchor {
            service: service.to_string(),
            batch_id,
        };
        let stored = answer.value.ok_or_else(no_anchor)?;
        let unproven = || VerifyError::StateProof {
            path: path.clone(),
            height: answer.height,
        };
        let proof = answer.proof.as_ref().ok_or_else(unproven)?;
        let app_hash = self.app_hash_after(answer.height).await?;
        verify_proof(app_hash, &derived_key(&path)?, Some(&answer.raw), proof)
            .map_err(|_| unproven())?;
        let root = <[u8; 32]>::try_from(stored.merkle_root.as_slice()).map_err(|_| no_anchor())?;
        let a = ChainAnchor {
            root,
            count: u64::from(stored.record_count),
            height: stored.height as u64,
        };
        self.anchors.insert(k, a.clone());
        Ok(a)
    }

    /// The app hash after block `height`, from the header of block
    /// `height + 1` (the one the validators signed).
    async fn app_hash_after(&mut self, height: u64) -> Result<[u8; 32], VerifyError> {
        if let Some(h) = self.app_hashes.get(&height) {
            return Ok(*h);
        }
        let hash = self.anchor.app_hash_after(height).await?;
        self.app_hashes.insert(height, hash);
        Ok(hash)
    }
}
