//! Who may ask the relay what. A signed caller gets the chain's directory
//! (organisations, their staff, anchored batch roots) and what is theirs:
//! their own account, grants, devices, enrolment and audit trail — or those
//! of a patient they are the guardian of — and the grants made to them or to
//! their own organisation. A patient's participant entry (her key) and her
//! grants also go to whoever the chain lets read her records now: a doctor
//! writing a prescription seals it for her and her other readers. A device's
//! or a record's entry names a patient: it goes to that patient (or
//! guardian) and to the consortium's staff, who verify what they were
//! served; so does an amendment's or an erasure's entry. Her list of
//! amendments goes to whoever may read her records now; her erasures and the
//! holds on her records, to her and her guardian. Blocks go out as headers only (their transactions carry
//! every disclosure of the block); a transaction goes only to its signer,
//! and only the caller's own signed transactions are broadcast.
//!
//! Whether a caller acts for a patient, or works for an organisation, is
//! read from state proven against a header the validators signed.

use base64::Engine;
use ehr_client::rpc::proven::ProvenState;
use ehr_ledger::crypto::{Address, PublicKey};
use ehr_ledger::ledger::{actors, keys};
use ehr_ledger::proto::{
    Amendment, Category, Erasure, Participant, ParticipantKind, ParticipantStatus, SignedTx,
    StoredRecordAnchor,
};
use prost::Message;
use serde_json::Value;

use crate::access;
use crate::error::{ErrorCode, Failure};

/// The paths the relay answers, as the refusal lists them.
const PATHS: &str =
    "/organisations, /staff/<org>, /gateways, /batch/<service>/<id>, /participant/<address>, \
    /account/<you or your key>, /key/<your key>, /granted-to/<you>, \
    /granted-to/org:<your organisation>, /guarding/<you>, /lab-orders/<your organisation>, \
    /audit|/devices|/enrollment|/access-requests|/recovery|/erasures|/holds/<you or a patient you \
    are the guardian of>, /grants|/amendments|/prescriptions|/orders/<a patient whose records you \
    may read>, /device/<id>, /record/<id>, /amendment/<id>, /erasure/<id>";

/// What is checked once the node has answered.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum After {
    Nothing,
    /// A participant entry: the caller's own, or not a patient's.
    NotAnotherPatient,
    /// A device's binding: its patient's (or guardian's), or staff's.
    DeviceOfCaller,
    /// A record's anchor: its patient's (or guardian's), or staff's.
    RecordOfCaller,
    /// An amendment or an erasure: as a record's anchor (it names records
    /// by id and when they were corrected or shredded, nothing of them).
    AmendmentOfCaller,
    ErasureOfCaller,
    /// A block: its header only.
    HeaderOnly,
    /// A transaction: the caller's own.
    OwnTransaction,
}

/// Whether `caller` is active staff of `org`, on proven state.
async fn staff_of(chain: &ProvenState, caller: &Address, org: &str) -> Result<bool, Failure> {
    let me = participant(chain, caller).await?;
    Ok(me.as_ref().is_some_and(|p| {
        p.kind == ParticipantKind::Staff as i32
            && p.status == ParticipantStatus::Active as i32
            && p.org_id == org
    }))
}

fn not_yours(message: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::ChainCallNotAllowed, message)
}

fn bad(message: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::BadChainCall, message)
}

/// Who calls: the person (the participant their key signs for) and the key
/// that signed the request — which differ once a key was rotated. Nonces,
/// and so accounts and transactions, are the key's.
pub(super) struct Who {
    pub person: Address,
    pub key: Address,
}

/// Whether `who` may make this call, and what to check of its answer.
pub(super) async fn before(
    chain: &ProvenState,
    who: &Who,
    method: &str,
    params: &Value,
) -> Result<After, Failure> {
    match method {
        "status" => Ok(After::Nothing),
        "block" => Ok(After::HeaderOnly),
        "tx" => Ok(After::OwnTransaction),
        "broadcast_tx_sync" => {
            let tx = params.get("tx").and_then(Value::as_str).unwrap_or_default();
            if signer_of_base64(tx)? != who.key {
                return Err(not_yours(
                    "the relay broadcasts only transactions signed by the key that signs the request",
                ));
            }
            Ok(After::Nothing)
        }
        "abci_query" => query(chain, who, params).await,
        other => Err(bad(format!("the relay does not pass {other:?}"))),
    }
}

async fn query(chain: &ProvenState, who: &Who, params: &Value) -> Result<After, Failure> {
    let caller = &who.person;
    let path = params
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("abci_query needs a \"path\""))?;
    if params
        .get("data")
        .is_some_and(|d| d.as_str().is_none_or(|d| !d.is_empty()))
    {
        return Err(bad(
            "the relay's queries name what they read in \"path\"; \"data\" must be empty",
        ));
    }
    // A list's page parameters (`?after=…&limit=…`) are the ledger's to check.
    let bare = path.split_once('?').map_or(path, |(bare, _)| bare);
    let parts: Vec<&str> = bare.strip_prefix('/').unwrap_or("").split('/').collect();
    let address = |s: &str| {
        s.parse::<Address>().map_err(|_| {
            bad(format!(
                "{s:?} in {path} is not an address (ehr1… or 40 hex digits)"
            ))
        })
    };
    match parts.as_slice() {
        ["organisations"] | ["staff", _] | ["gateways"] | ["batch", _, _] => Ok(After::Nothing),
        ["participant", a] => Ok(if address(a)? == *caller {
            After::Nothing
        } else {
            After::NotAnotherPatient
        }),
        ["account", a] => {
            if ![who.key, who.person].contains(&address(a)?) {
                return Err(not_yours(format!(
                    "{path}: an account's entry goes to its owner only"
                )));
            }
            Ok(After::Nothing)
        }
        ["granted-to", org] if org.starts_with("org:") => {
            if !staff_of(chain, caller, &org["org:".len()..]).await? {
                return Err(not_yours(format!(
                    "{path}: an organisation's grants go to its own active staff only"
                )));
            }
            Ok(After::Nothing)
        }
        ["lab-orders", org] => {
            if !staff_of(chain, caller, org).await? {
                return Err(not_yours(format!(
                    "{path}: a lab's worklist goes to its own active staff only"
                )));
            }
            Ok(After::Nothing)
        }
        // Whom the caller's own key signs for.
        ["key", a] => {
            if address(a)? != who.key {
                return Err(not_yours(format!(
                    "{path}: whom a key signs for goes to that key only"
                )));
            }
            Ok(After::Nothing)
        }
        ["granted-to" | "guarding", a] => {
            if address(a)? != *caller {
                return Err(not_yours(format!(
                    "{path}: the grants made to someone, and the patients a guardian guards, go to them only"
                )));
            }
            Ok(After::Nothing)
        }
        // Who reads her, and what was asked to be corrected: a reader with
        // history sees a record's amendments (ids, dates, the deciding
        // hospital — never their words, which are sealed).
        [list @ ("grants" | "amendments"), p] => {
            let patient = address(p)?;
            if patient != *caller && !access::any_basis(chain, &patient, caller).await? {
                return Err(not_yours(format!(
                    "{path}: a patient's {list} go to the patient, their guardian and those \
                     the chain lets read her records now only"
                )));
            }
            Ok(After::Nothing)
        }
        // Who prescribed, who dispensed, which lab: medications and labs as
        // the patient's consent is, by category (a pharmacist she chose
        // lists her prescriptions to fill them).
        [list @ ("prescriptions" | "orders"), p] => {
            let patient = address(p)?;
            let category = if *list == "prescriptions" {
                Category::Medications
            } else {
                Category::Labs
            };
            if patient != *caller
                && access::may_read(chain, &patient, caller, category)
                    .await
                    .is_err()
            {
                return Err(not_yours(format!(
                    "{path}: a patient's {list} go to the patient, their guardian and those \
                     the chain lets read her {} now only",
                    if *list == "prescriptions" {
                        "medications"
                    } else {
                        "labs"
                    }
                )));
            }
            Ok(After::Nothing)
        }
        // What she erased and who must keep her records (a hold's reason
        // and reference are hers and the holding hospital's business).
        ["audit" | "devices" | "enrollment" | "access-requests" | "recovery" | "erasures"
        | "holds", p] => {
            let patient = address(p)?;
            if patient != *caller && !acts_for(chain, &patient, caller).await? {
                return Err(not_yours(format!(
                    "{path}: a patient's entries go to the patient or their guardian only"
                )));
            }
            Ok(After::Nothing)
        }
        ["device", _] => Ok(After::DeviceOfCaller),
        ["record", _] => Ok(After::RecordOfCaller),
        ["amendment", _] => Ok(After::AmendmentOfCaller),
        ["erasure", _] => Ok(After::ErasureOfCaller),
        _ => Err(bad(format!("the relay answers only {PATHS}; not {path}"))),
    }
}

/// Checks the node's answer; the answer to pass on (a block stripped to its
/// header).
pub(super) async fn after(
    chain: &ProvenState,
    who: &Who,
    check: After,
    mut answer: Value,
) -> Result<Value, Failure> {
    let caller = &who.person;
    match check {
        After::Nothing => {}
        After::HeaderOnly => {
            let header = answer.pointer("/block/header").cloned().unwrap_or_default();
            let id = answer.get("block_id").cloned().unwrap_or_default();
            answer = serde_json::json!({ "block_id": id, "block": { "header": header } });
        }
        After::OwnTransaction => {
            let tx = answer.get("tx").and_then(Value::as_str).unwrap_or_default();
            let signer = signer_of_base64(tx).ok();
            if signer != Some(who.key) && signer != Some(who.person) {
                return Err(not_yours(
                    "the relay shows a transaction to its signer only",
                ));
            }
        }
        After::NotAnotherPatient => {
            if let Some(p) = value::<Participant>(&answer) {
                // Those who read her records, and a lab holding an open order
                // of hers (it seals the result for her).
                let cared_for = match Address::from_slice(&p.address) {
                    _ if p.kind != ParticipantKind::Patient as i32 => true,
                    Some(patient) => {
                        access::any_basis(chain, &patient, caller).await?
                            || access::lab_with_open_order(chain, &patient, caller).await?
                    }
                    None => false,
                };
                if !cared_for {
                    return Err(not_yours(
                        "a patient's participant entry goes to the patient, their guardian, \
                         those the chain lets read her records now and a lab holding an open \
                         order of hers only",
                    ));
                }
            }
        }
        After::DeviceOfCaller => {
            if let Some(d) = value::<ehr_ledger::proto::Device>(&answer) {
                of_caller_or_staff(chain, caller, &d.patient, "a device's binding").await?;
            }
        }
        After::RecordOfCaller => {
            if let Some(r) = value::<StoredRecordAnchor>(&answer) {
                let patient = r.record.map(|r| r.patient).unwrap_or_default();
                of_caller_or_staff(chain, caller, &patient, "a record's anchor").await?;
            }
        }
        After::AmendmentOfCaller => {
            if let Some(a) = value::<Amendment>(&answer) {
                of_caller_or_staff(chain, caller, &a.patient, "an amendment").await?;
            }
        }
        After::ErasureOfCaller => {
            if let Some(e) = value::<Erasure>(&answer) {
                of_caller_or_staff(chain, caller, &e.patient, "an erasure").await?;
            }
        }
    }
    Ok(answer)
}

/// The value of a query's answer, decoded; `None` when nothing is stored
/// (nothing to hide) or it does not decode (it is passed as the node said,
/// and the page refuses it).
fn value<M: Message + Default>(answer: &Value) -> Option<M> {
    let b64 = answer.pointer("/response/value").and_then(Value::as_str)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    M::decode(bytes.as_slice()).ok()
}

async fn of_caller_or_staff(
    chain: &ProvenState,
    caller: &Address,
    patient: &[u8],
    what: &str,
) -> Result<(), Failure> {
    if patient == caller.0 {
        return Ok(());
    }
    // Both entries from one proven view of the state.
    let mut view = chain.latest().await?;
    if let Some(patient) = Address::from_slice(patient) {
        let p: Option<Participant> = view.get(&keys::participant(&patient)).await?;
        if p.is_some_and(|p| actors::acts_for(&p, caller).is_some()) {
            return Ok(());
        }
    }
    let me: Option<Participant> = view.get(&keys::participant(caller)).await?;
    if me.is_some_and(|p| {
        p.kind == ParticipantKind::Staff as i32 && p.status == ParticipantStatus::Active as i32
    }) {
        return Ok(());
    }
    Err(not_yours(format!(
        "{what} goes to its patient, their guardian and the consortium's staff only"
    )))
}

async fn participant(chain: &ProvenState, a: &Address) -> Result<Option<Participant>, Failure> {
    let mut view = chain.latest().await?;
    Ok(view.get::<Participant>(&keys::participant(a)).await?)
}

/// Whether `caller` is `patient`'s guardian (or the patient), on proven state.
async fn acts_for(
    chain: &ProvenState,
    patient: &Address,
    caller: &Address,
) -> Result<bool, Failure> {
    Ok(participant(chain, patient)
        .await?
        .is_some_and(|p| actors::acts_for(&p, caller).is_some()))
}

/// The address of the key that signed a base64 `SignedTx`.
fn signer_of_base64(tx: &str) -> Result<Address, Failure> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(tx)
        .map_err(|_| bad("\"tx\" must be a base64 transaction"))?;
    let signed = SignedTx::decode(bytes.as_slice())
        .map_err(|_| bad("\"tx\" is not a signed transaction of this ledger"))?;
    PublicKey::from_bytes(&signed.public_key)
        .map(|k| k.address())
        .ok_or_else(|| bad("the transaction's public key is not a secp256k1 key"))
}
