//! Every check a reader makes of what the gateway served, in one place, for
//! the CLI and the FHIR API alike: a record or document is shown as valid
//! data only when it opened with the reader's key and its anchor on chain
//! (read with a state proof) holds it.

use super::api::{DocumentItem, RecordItem};
use super::documents::{self, Document};
use super::open::{decrypt, ChainVerifier, Opened, VerifyError};
use ehr_ledger::crypto::{Address, SecretKey};

/// One record's outcome: opened and verified, or why not.
pub struct CheckedRecord {
    pub item: RecordItem,
    pub opened: Option<Opened>,
    pub anchored_at: Option<u64>,
    /// Decrypted and signed, but its batch is not anchored yet.
    pub awaiting_anchor: bool,
    pub problem: Option<String>,
}

impl CheckedRecord {
    /// Opened, signed by its device and anchored: valid data.
    pub fn verified(&self) -> Option<&Opened> {
        self.opened
            .as_ref()
            .filter(|_| self.problem.is_none() && self.anchored_at.is_some())
    }
}

/// Opens `item` with `key`, checks its device's signature and binding to
/// `patient`, and its Merkle path against the batch anchored on chain.
pub async fn check_record(
    item: RecordItem,
    key: &SecretKey,
    patient: &Address,
    chain: &mut ChainVerifier,
) -> CheckedRecord {
    let mut c = CheckedRecord {
        item,
        opened: None,
        anchored_at: None,
        awaiting_anchor: false,
        problem: None,
    };
    match decrypt(&c.item, key) {
        Err(e) => c.problem = Some(e.to_string()),
        Ok(opened) => {
            if let Err(e) = chain.verify_device(&opened, patient).await {
                c.problem = Some(e.to_string());
            }
            c.opened = Some(opened);
        }
    }
    match chain.verify_anchor(&c.item).await {
        Ok(h) => c.anchored_at = Some(h),
        Err(VerifyError::NotAnchored) if c.problem.is_none() => c.awaiting_anchor = true,
        Err(e) => {
            c.problem.get_or_insert_with(|| e.to_string());
        }
    }
    c
}

/// One document's outcome.
pub struct CheckedDocument {
    pub item: DocumentItem,
    pub document: Result<Document, String>,
    pub anchored_at: Result<u64, String>,
    /// What an amendment made of it, as its proven anchor says.
    pub links: super::open::AmendmentLinks,
}

impl CheckedDocument {
    pub fn problem(&self) -> Option<&String> {
        self.document
            .as_ref()
            .err()
            .or(self.anchored_at.as_ref().err())
    }

    /// Opened and anchored: valid data.
    pub fn verified(&self) -> Option<&Document> {
        self.anchored_at
            .as_ref()
            .ok()
            .and(self.document.as_ref().ok())
    }
}

/// Opens a document with `key` and checks it against its record anchor.
pub async fn check_document(
    item: DocumentItem,
    key: &SecretKey,
    patient: &Address,
    chain: &mut ChainVerifier,
) -> CheckedDocument {
    let document = documents::open(&item, key, patient).map_err(|e| e.to_string());
    let (anchored_at, links) = match chain.verify_document(&item, patient).await {
        Ok((height, links)) => (Ok(height), links),
        Err(e) => (Err(e.to_string()), Default::default()),
    };
    CheckedDocument {
        item,
        document,
        anchored_at,
        links,
    }
}
