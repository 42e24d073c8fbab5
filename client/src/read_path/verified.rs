//! Every check a reader makes of what the gateway served, in one place, for
//! the CLI and the FHIR API alike: a record or document is shown as valid
//! data only when it opened with the reader's key and its anchor on chain
//! (read with a state proof) holds it.

use super::api::{DocumentItem, RecordItem};
use super::documents::{self, Document};
use super::open::{decrypt, ChainVerifier, Opened, VerifyError};
use ehr_ledger::crypto::{Address, SecretKey};
use ehr_ledger::proto::Erasure;

/// One record's outcome: opened and verified, or why not.
pub struct CheckedRecord {
    pub item: RecordItem,
    pub opened: Option<Opened>,
    pub anchored_at: Option<u64>,
    /// Decrypted and signed, but its batch is not anchored yet.
    pub awaiting_anchor: bool,
    pub problem: Option<String>,
    /// Erased, the erasure proven to cover it: shown instead of the record.
    pub erased: Option<Erasure>,
}

/// What a reader is told of an erased record.
pub fn erased_sentence(e: &Erasure) -> String {
    let reference = if e.reference.is_empty() {
        String::new()
    } else {
        format!(" ({})", e.reference)
    };
    format!(
        "erased on {} under {}{reference}",
        ehr_ledger::time::rfc3339(e.erased_at),
        ehr_ledger::ledger::actions::erasure::basis_words(e.basis)
    )
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
        erased: None,
    };
    if let Some(id) = c.item.erasure_id {
        // Nothing to open: its anchor still proves the hash, and the
        // erasure on chain must cover it.
        let checked = match chain.verify_anchor(&c.item).await {
            Ok(h) => {
                c.anchored_at = Some(h);
                chain
                    .verify_erasure(id, &c.item.record_id, &c.item.category, h, patient)
                    .await
            }
            Err(e) => Err(e),
        };
        match checked {
            Ok(e) => c.erased = Some(e),
            Err(e) => c.problem = Some(e.to_string()),
        }
        return c;
    }
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
    /// Erased, the erasure proven to cover it: shown instead of it.
    pub erased: Option<Erasure>,
}

impl CheckedDocument {
    pub fn problem(&self) -> Option<&String> {
        if self.erased.is_some() {
            return None;
        }
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
    let (mut anchored_at, links) = match chain.verify_document(&item, patient).await {
        Ok((height, links)) => (Ok(height), links),
        Err(e) => (Err(e.to_string()), Default::default()),
    };
    let mut erased = None;
    let document = match (item.erasure_id, &anchored_at) {
        (Some(id), Ok(height)) => {
            match chain
                .verify_erasure(id, &item.record_id, &item.category, *height, patient)
                .await
            {
                Ok(e) => erased = Some(e),
                Err(e) => anchored_at = Err(e.to_string()),
            }
            Err("erased".to_string())
        }
        (Some(_), Err(_)) => Err("erased".to_string()),
        (None, _) => documents::open(&item, key, patient).map_err(|e| e.to_string()),
    };
    CheckedDocument {
        item,
        document,
        anchored_at,
        links,
        erased,
    }
}
