//! Clinical documents: what a doctor orders or prescribes. Their content (the
//! drug, dose and quantity; the test) is health data, so it never reaches the
//! chain: the author's machine encrypts it like a reading (its own data key,
//! AES-256-GCM with the record id in the AAD), wraps the key for the patient,
//! the author, the clinicians the patient granted the category and the
//! break-glass escrow, stores the ciphertext with the gateway, and anchors its
//! hash with the order or prescription (docs/ledger.md). A reader checks the
//! ciphertext against that anchor, read with a state proof.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

use super::api::{DocumentItem, DocumentUpload, ReaderWrap};
use super::open::OpenError;
use super::readers::ReaderKey;
use crate::record_encryption::{encrypt_record, wrap_key, DataKey};
use ehr_ledger::crypto::{sha256, Address, SecretKey};
use ehr_ledger::ledger::access::category_name;
use ehr_ledger::proto::{Category, RecordRef};

/// What a document says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    Prescription {
        /// RxNorm code of the drug.
        drug_code: String,
        /// Dose as written, e.g. "5".
        dose: String,
        /// UCUM unit, e.g. "mg".
        unit: String,
        quantity: u32,
        refills: u32,
    },
    LabOrder {
        /// LOINC code of the test.
        test_code: String,
        /// The member organisation whose lab performs it.
        lab_org: String,
    },
    /// A lab's result of an order, written by a technician of the ordered lab.
    LabResult {
        order_id: u64,
        /// LOINC code of what was measured.
        test_code: String,
        /// As the lab reports it, e.g. "5.4".
        value: String,
        /// UCUM unit, e.g. "mmol/L".
        unit: String,
    },
    /// Who the patient is.
    Demographics(super::demographics::Demographics),
    /// Words about another record of the amendment of `about`: the
    /// patient's request, a denial's explanation, her disagreement. In the
    /// category of the record it is about.
    Statement {
        about: String,
        /// `amendment_request`, `denial_explanation` or `disagreement`.
        purpose: String,
        /// The category of the record it is about (`labs`, `notes` …).
        category: String,
        text: String,
    },
}

/// The record id of the result of lab order `order_id`.
pub fn result_id(order_id: u64) -> String {
    format!("result-{order_id}")
}

/// The record id of the correction an accepted amendment anchors.
pub fn correction_id(amendment_id: u64) -> String {
    format!("correction-{amendment_id}")
}

/// The record id of the explanation of a denied amendment.
pub fn denial_id(amendment_id: u64) -> String {
    format!("denial-{amendment_id}")
}

/// The words a statement's purpose is written with, and what a person reads.
pub const STATEMENT_PURPOSES: [(&str, &str); 3] = [
    ("amendment_request", "request to amend"),
    ("denial_explanation", "why the amendment was denied"),
    ("disagreement", "statement of disagreement"),
];

impl Content {
    pub fn category(&self) -> Category {
        match self {
            Content::Prescription { .. } => Category::Medications,
            Content::LabOrder { .. } | Content::LabResult { .. } => Category::Labs,
            Content::Demographics(_) => Category::Demographics,
            Content::Statement { category, .. } => {
                ehr_ledger::ledger::access::category_named(category).unwrap_or(Category::Notes)
            }
        }
    }

    /// A fresh record id; a lab's result is named by its order, so an order
    /// has one result (the gateway stores it by that name only).
    pub fn record_id(&self) -> String {
        if let Content::LabResult { order_id, .. } = self {
            return result_id(*order_id);
        }
        let mut id = [0u8; 12];
        getrandom::fill(&mut id).expect("the operating system provides randomness");
        format!("{}-{}", self.id_prefix(), hex::encode(id))
    }

    fn id_prefix(&self) -> &'static str {
        match self {
            Content::Prescription { .. } => "rx",
            Content::LabOrder { .. } => "order",
            Content::LabResult { .. } => "result",
            Content::Demographics(_) => "pt",
            Content::Statement { .. } => "statement",
        }
    }

    /// One line for a person.
    pub fn describe(&self) -> String {
        match self {
            Content::Prescription {
                drug_code,
                dose,
                unit,
                quantity,
                refills,
            } => format!(
                "prescription: RxNorm {drug_code}, {dose} {unit} × {quantity}, {refills} refill(s)"
            ),
            Content::LabOrder { test_code, lab_org } => {
                format!("lab order: LOINC {test_code} at {lab_org}")
            }
            Content::LabResult {
                order_id,
                test_code,
                value,
                unit,
            } => format!("lab result of order {order_id}: LOINC {test_code} {value} {unit}"),
            Content::Demographics(d) => format!(
                "demographics: {}{}",
                d.full_name(),
                d.birth_date
                    .as_ref()
                    .map_or_else(String::new, |b| format!(", born {b}"))
            ),
            Content::Statement {
                about,
                purpose,
                text,
                ..
            } => {
                let what = STATEMENT_PURPOSES
                    .iter()
                    .find(|(p, _)| p == purpose)
                    .map_or(purpose.as_str(), |(_, w)| w);
                format!("{what} {about}: {text}")
            }
        }
    }
}

/// The plaintext: the content and whose it is, so a document moved to another
/// patient in storage is recognised after decryption too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub patient: String,
    pub content: Content,
    /// Unix seconds on the author's clock.
    pub written_at: i64,
}

/// A document ready to send: the upload for the gateway and the reference the
/// transaction anchors.
pub struct Sealed {
    pub record: RecordRef,
    pub upload: DocumentUpload,
}

/// Encrypts `content` for `patient`, its key wrapped for each of `readers`
/// (the caller includes the patient and the author).
pub fn seal(content: Content, patient: &Address, readers: &[ReaderKey], written_at: i64) -> Sealed {
    let record_id = content.record_id();
    seal_as(content, record_id, patient, readers, written_at)
}

/// The same, under a record id the caller names (an amendment's records).
pub fn seal_as(
    content: Content,
    record_id: String,
    patient: &Address,
    readers: &[ReaderKey],
    written_at: i64,
) -> Sealed {
    let category = content.category();
    let plain = serde_json::to_vec(&Document {
        patient: patient.to_string(),
        content,
        written_at,
    })
    .expect("a document serialises");
    let key = DataKey::generate();
    let ciphertext = encrypt_record(&key, &record_id, &plain);
    let mut wraps: Vec<ReaderWrap> = Vec::with_capacity(readers.len());
    for r in readers {
        if wraps.iter().any(|w| w.reader == r.address.to_string()) {
            continue;
        }
        wraps.push(ReaderWrap {
            reader: r.address.to_string(),
            wrapped_key: B64.encode(wrap_key(&r.key, &record_id, &key)),
        });
    }
    Sealed {
        record: RecordRef {
            record_id: record_id.clone(),
            patient: patient.0.to_vec(),
            category: category as i32,
            ciphertext_sha256: sha256(&ciphertext).to_vec(),
            size: ciphertext.len() as u64,
            locator: format!("gateway://documents/{record_id}"),
        },
        upload: DocumentUpload {
            record_id,
            category: category_name(category).to_string(),
            ciphertext: B64.encode(&ciphertext),
            wraps,
            order_id: None,
            amendment_id: None,
        },
    }
}

/// Checks the ciphertext against its hash, unwraps the key, decrypts, and
/// checks the document names `patient`.
pub fn open(
    item: &DocumentItem,
    reader: &SecretKey,
    patient: &Address,
) -> Result<Document, OpenError> {
    // A document's key is its own: wrapped under the document's record id.
    let plain = super::open::unseal(
        &item.record_id,
        &item.record_id,
        &item.ciphertext,
        &item.ciphertext_sha256,
        item.wrapped_key.as_deref(),
        reader,
    )?;
    let doc: Document = serde_json::from_slice(&plain)
        .map_err(|e| OpenError::Malformed(format!("the decrypted document is not one: {e}")))?;
    if doc.patient != patient.to_string() {
        return Err(OpenError::Malformed(format!(
            "the document is written for {}, not for {patient}",
            doc.patient
        )));
    }
    Ok(doc)
}

/// Why a document could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0} is not registered on chain")]
    UnknownPatient(Address),
    #[error("the chain cannot be asked who reads this patient's records: {0}")]
    Chain(#[from] crate::rpc::RpcError),
    #[error(transparent)]
    Unproven(#[from] crate::rpc::proven::ProvenError),
    #[error("the gateway did not store the document: {0}")]
    Gateway(#[from] super::client::GatewayError),
}

/// Seals `content` for the patient (and guardian), the author, the
/// clinicians the patient granted the category (as the chain says at `now`)
/// and the break-glass escrow; stores it with the gateway `client` speaks to
/// (signed by the author); returns the reference the transaction anchors.
pub async fn write(
    chain: &crate::rpc::proven::ProvenState,
    client: &super::client::GatewayClient,
    author: &ehr_ledger::crypto::PublicKey,
    patient: &Address,
    content: Content,
    now: i64,
) -> Result<RecordRef, WriteError> {
    write_as(chain, client, author, patient, content, now, None).await
}

/// A record of amendment `amendment_id` written by the organisation that
/// decides it, under the id the gateway stores it by.
pub struct ForAmendment {
    pub record_id: String,
    pub amendment_id: u64,
}

/// `write`, for an amendment's decider when `named` is given.
pub async fn write_as(
    chain: &crate::rpc::proven::ProvenState,
    client: &super::client::GatewayClient,
    author: &ehr_ledger::crypto::PublicKey,
    patient: &Address,
    content: Content,
    now: i64,
    named: Option<ForAmendment>,
) -> Result<RecordRef, WriteError> {
    // The newest state: a grant made a moment ago counts.
    let mut view = chain.newest().await?;
    let p: ehr_ledger::proto::Participant = view
        .get(&ehr_ledger::ledger::keys::participant(patient))
        .await?
        .ok_or(WriteError::UnknownPatient(*patient))?;
    let guardian = super::readers::guardian(&mut view, &p).await?;
    let author = ReaderKey {
        address: author.address(),
        key: author.clone(),
    };
    let mut wrap_for: Vec<ReaderKey> = [ReaderKey::of(&p), guardian, Some(author)]
        .into_iter()
        .flatten()
        .collect();
    wrap_for.extend(super::readers::grantees(&mut view, patient, content.category()).await?);
    wrap_for.extend(super::readers::escrow(&mut view).await?);
    let sealed = match named {
        Some(n) => {
            let mut sealed = seal_as(content, n.record_id, patient, &wrap_for, now);
            sealed.upload.amendment_id = Some(n.amendment_id);
            sealed
        }
        None => seal(content, patient, &wrap_for, now),
    };
    client.put_document(patient, &sealed.upload).await?;
    Ok(sealed.record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(seed: &str) -> (SecretKey, ReaderKey) {
        let k = SecretKey::from_seed(seed);
        let r = ReaderKey {
            address: k.address(),
            key: k.public_key(),
        };
        (k, r)
    }

    fn item(sealed: &Sealed, wrapped_for: &Address) -> DocumentItem {
        DocumentItem {
            record_id: sealed.upload.record_id.clone(),
            seq: 1,
            category: sealed.upload.category.clone(),
            author: String::new(),
            stored_at_ms: 0,
            ciphertext: sealed.upload.ciphertext.clone(),
            ciphertext_sha256: hex::encode(&sealed.record.ciphertext_sha256),
            wrapped_key: sealed
                .upload
                .wraps
                .iter()
                .find(|w| w.reader == wrapped_for.to_string())
                .map(|w| w.wrapped_key.clone()),
            key_source: None,
            erasure_id: None,
        }
    }

    #[test]
    fn demographics_are_written_as_the_portal_writes_them() {
        // The portal's Content (portal/src/records/documents.ts): the kind
        // and the fields beside it.
        let json = serde_json::to_value(Content::Demographics(
            crate::read_path::demographics::alice(),
        ))
        .unwrap();
        assert_eq!(json["kind"], "demographics");
        assert_eq!(json["family"], "Martin");
        assert_eq!(json["given"][0], "Alice");
        assert_eq!(json["birth_date"], "1984-03-07");
        assert_eq!(json["mrns"][0]["organisation"], "general");
        let back: Content = serde_json::from_value(json).unwrap();
        assert_eq!(back.category(), Category::Demographics);
    }

    #[test]
    fn a_sealed_prescription_opens_for_its_readers_only_and_never_shows_its_drug() {
        let (patient_key, patient) = reader("patient");
        let (doctor_key, doctor) = reader("doctor");
        let (other_key, _) = reader("other");
        let content = Content::Prescription {
            drug_code: "197361".into(),
            dose: "5".into(),
            unit: "mg".into(),
            quantity: 30,
            refills: 0,
        };
        let sealed = seal(
            content.clone(),
            &patient.address,
            &[patient.clone(), doctor.clone()],
            1,
        );
        assert_eq!(sealed.record.category, Category::Medications as i32);
        assert!(!sealed.upload.ciphertext.contains("197361"));
        let raw = B64.decode(&sealed.upload.ciphertext).unwrap();
        assert!(!raw.windows(6).any(|w| w == b"197361"));
        for (k, r) in [(&patient_key, &patient), (&doctor_key, &doctor)] {
            let doc = open(&item(&sealed, &r.address), k, &patient.address).unwrap();
            assert_eq!(doc.content, content);
        }
        let none = item(&sealed, &other_key.address());
        assert_eq!(
            open(&none, &other_key, &patient.address),
            Err(OpenError::NoKey)
        );
        let stolen = item(&sealed, &doctor.address);
        assert_eq!(
            open(&stolen, &other_key, &patient.address),
            Err(OpenError::KeyUnwrap)
        );
        // Shown as another patient's: refused after decryption.
        let (_, bob) = reader("bob");
        assert!(matches!(
            open(&item(&sealed, &doctor.address), &doctor_key, &bob.address),
            Err(OpenError::Malformed(_))
        ));
    }
}
