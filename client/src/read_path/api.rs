//! The gateway's wire types (JSON). docs/gateway.openapi.yaml describes the
//! same API for other languages; a test keeps the two in step.

use serde::{Deserialize, Serialize};

/// `GET /v1/patients/{patient}/records`: the records the caller may read now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordsPage {
    pub patient: String,
    /// The category asked for (`vitals`, `labs`, … or `all`).
    pub category: String,
    /// Why the chain lets the caller read: PATIENT, GUARDIAN, GRANT or EMERGENCY.
    pub basis: String,
    /// The height whose state allowed it.
    pub height: u64,
    pub records: Vec<RecordItem>,
    /// Present when the page is full: pass it as `after` for the next page.
    pub next_after: Option<i64>,
    /// The disclosures this answer is logged under, one per category served
    /// (none for an empty page); the gateway logs them on chain in batches.
    pub disclosure_ids: Vec<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordItem {
    pub record_id: String,
    /// Position in the gateway's store, for paging.
    pub seq: i64,
    pub category: String,
    pub device_id: String,
    pub loinc: String,
    pub measured_at_ms: i64,
    /// Base64 of `0x01 ‖ nonce ‖ AES-256-GCM(signed reading)`.
    pub ciphertext: String,
    /// Hex SHA-256 of the ciphertext: the record's Merkle leaf.
    pub ciphertext_sha256: String,
    /// The id the record's data key is wrapped under: the record's own id
    /// (a key of its own, wrap version 1) or a key shared with the patient's
    /// other readings of its batch (`k-…`, wrap version 2).
    pub key_id: String,
    /// Base64 of the data key wrapped for the caller; absent when none was
    /// wrapped for them yet (the patient re-wraps after a grant).
    pub wrapped_key: Option<String>,
    /// `reader` (wrapped for the caller at ingest or by the patient) or
    /// `emergency` (re-wrapped by the gateway under an open emergency access).
    pub key_source: Option<String>,
    /// Absent while the record's batch is not anchored yet.
    pub anchor: Option<AnchorProof>,
    /// The erasure (`/erasure/<id>` on chain) that shredded it: no
    /// ciphertext and no key are served, only its hash and this number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure_id: Option<u64>,
}

/// A line of a day's archive of readings (`ehr-archive`, docs/ingest.md
/// "Partitions and retention"): the record as the gateway would serve it —
/// ciphertext, leaf, and its anchor with the full path — with no key wrapped
/// for anyone, and the patient it belongs to. `ehr verify-archive` checks
/// each against the chain as `ehr fetch` checks what the gateway serves.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArchivedRecord {
    pub patient: String,
    pub record: RecordItem,
}

/// Where a record's batch is anchored and the record's path to its root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorProof {
    /// The ingest service whose `anchor_batch` holds the root.
    pub service: String,
    pub batch_id: u64,
    pub leaf_index: u64,
    pub leaf_count: u64,
    /// Hex root, as the gateway's store has it; a reader compares it with the chain's.
    pub merkle_root: String,
    /// Hex sibling hashes, leaf to root (RFC 6962).
    pub path: Vec<String>,
    pub height: u64,
}

/// `GET /v1/patients/{patient}/wrapped-keys`: the caller's own wraps (patient or guardian).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeysPage {
    pub patient: String,
    pub keys: Vec<OwnKey>,
    pub next_after: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OwnKey {
    /// A data key's id: a record's own key, or one shared by several records.
    pub key_id: String,
    /// The last record under this key, for paging.
    pub seq: i64,
    /// How many of the patient's records this key opens: what sharing it
    /// gives the reader, counted as a person counts readings.
    #[serde(default)]
    pub records: i64,
    pub category: String,
    /// Base64 of the data key wrapped for the caller.
    pub wrapped_key: String,
}

/// `POST /v1/patients/{patient}/wrapped-keys`: wraps made by the patient's client.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WrapUpload {
    /// The reader's address (`ehr1…`); the chain must let them read the records.
    pub reader: String,
    pub wraps: Vec<NewWrap>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewWrap {
    /// The key's id, as in [`OwnKey`].
    pub key_id: String,
    /// Base64 of the data key wrapped for the reader's public key.
    pub wrapped_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrapResult {
    pub stored: u64,
    pub already_present: u64,
}

/// `GET /v1/patients/{patient}/recovered-keys`: a page of the patient's
/// escrowed keys re-wrapped for the key her recovery bound.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecoveredKeys {
    /// Wraps stored for the recovered key on this page.
    pub rewrapped: u64,
    /// The records the re-wrapped keys open (each disclosed in the trail).
    pub records: u64,
    /// Escrow wraps this gateway could not open (made for another key).
    pub unopened: u64,
    /// Ask again with `after=<next_after>` while present.
    pub next_after: Option<i64>,
}

/// `POST /v1/patients/{patient}/documents`: a clinical document (an order,
/// a prescription) written by a party with write access, encrypted on the
/// author's machine, its key wrapped for each reader it names.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DocumentUpload {
    /// The id its anchor on chain has (`/record/<id>`).
    pub record_id: String,
    /// `labs`, `medications`, `notes` or `imaging`.
    pub category: String,
    /// Base64 of `0x01 ‖ nonce ‖ AES-256-GCM(document)`; at most 64 KiB.
    pub ciphertext: String,
    /// One wrap per reader; the patient's must be among them.
    pub wraps: Vec<ReaderWrap>,
    /// A lab's result names the open order it answers: a technician of the
    /// ordered lab stores it by the order, without a grant of the patient's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<u64>,
    /// A record of an amendment written by the organisation that decides
    /// it — the correction (`correction-<id>`) or the explanation of a
    /// denial (`denial-<id>`) — stored by the amendment, without a grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amendment_id: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReaderWrap {
    /// The reader's address (`ehr1…`).
    pub reader: String,
    /// Base64 of the data key wrapped for the reader's public key.
    pub wrapped_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentStored {
    pub record_id: String,
    pub seq: i64,
    /// SHA-256 of the ciphertext (hex): what the anchor on chain must carry.
    pub ciphertext_sha256: String,
}

/// `GET /v1/patients/{patient}/documents`: the documents the caller may read now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DocumentsPage {
    pub patient: String,
    pub category: String,
    pub basis: String,
    pub height: u64,
    pub documents: Vec<DocumentItem>,
    pub next_after: Option<i64>,
    pub disclosure_ids: Vec<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DocumentItem {
    pub record_id: String,
    pub seq: i64,
    pub category: String,
    /// The address of the party who wrote it.
    pub author: String,
    pub stored_at_ms: i64,
    pub ciphertext: String,
    pub ciphertext_sha256: String,
    pub wrapped_key: Option<String>,
    pub key_source: Option<String>,
    /// The erasure that shredded it, as for a record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure_id: Option<u64>,
}

/// Every refusal: a stable code and a sentence a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

/// Largest document ciphertext the gateway stores (bytes).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Most wraps one document carries.
pub const MAX_DOCUMENT_WRAPS: usize = 64;

/// Most records in one answer.
pub const MAX_PAGE: i64 = 1000;

/// A code of the consortium's directory, as the gateway's public look-up
/// answers it (`GET /v1/codes`, `/v1/codes/{system}/{code}`): proven from
/// the chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeItem {
    /// `loinc`, `icd10` or `snomed`.
    pub system: String,
    pub code: String,
    pub display: String,
    /// A measurement's UCUM unit and plausible range; absent for others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// `active` or `retired`.
    pub status: String,
    /// The proposal that added it (0: the genesis).
    pub added_by: u64,
    /// When retired: by which proposal, why, and what replaces it (if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_by: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
}

/// The codes a search found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeSearch {
    pub codes: Vec<CodeItem>,
}
