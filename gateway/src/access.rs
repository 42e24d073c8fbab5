//! Who may read: the chain decides, at the newest block whose state a signed
//! header proves, for every request — so a revocation takes effect from the
//! block after the one that holds it (a block interval later at most), and a
//! refusal is decided again once the newest block's state is proven (a grant
//! or an emergency access just committed is honoured at once).
//!
//! The decision is the ledger's own rule (`ledger::access::decide`) run here
//! over primitive state keys — the patient, the reader, their organisation,
//! the grants, an emergency access — each proven against the app hash of a
//! header the validators signed (`ProvenState`). No computed answer of one
//! node is taken: a node that forged "emergency access open" would otherwise
//! make this gateway open its escrow wrap and hand a patient's keys away.

use ehr_client::read_path::readers;
use ehr_client::rpc::proven::{ProvenState, View};
use ehr_ledger::crypto::{Address, PublicKey};
use ehr_ledger::ledger::access::{decide, Decision};
use ehr_ledger::ledger::actions::amendments::to_decide;
use ehr_ledger::ledger::actions::clinical::order_to_fulfil;
use ehr_ledger::ledger::keys;
use ehr_ledger::proto::{
    AccessBasis, AccessLevel, Category, LabOrderList, Participant, ParticipantKind, Role,
};

use crate::error::{ErrorCode, Failure};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    pub basis: AccessBasis,
    /// The height whose state allowed it.
    pub height: u64,
}

/// Whether `reader` may read `category` of `patient`'s records now; 403 with
/// the chain's reason when not.
pub async fn may_read(
    chain: &ProvenState,
    patient: &Address,
    reader: &Address,
    category: Category,
) -> Result<Allowed, Failure> {
    decision(chain, patient, reader, category, AccessLevel::Read).await
}

/// Whether `author` may write `category` of `patient`'s records now (the
/// patient, their guardian, a clinician with a write grant or an open
/// emergency access); 403 with the chain's reason when not.
pub async fn may_write(
    chain: &ProvenState,
    patient: &Address,
    author: &Address,
    category: Category,
) -> Result<Allowed, Failure> {
    decision(chain, patient, author, category, AccessLevel::Write).await
}

async fn decision(
    chain: &ProvenState,
    patient: &Address,
    reader: &Address,
    category: Category,
    level: AccessLevel,
) -> Result<Allowed, Failure> {
    let mut view = chain.latest().await?;
    let denied = match decide_in(&mut view, patient, reader, category, level).await? {
        Ok(allowed) => return Ok(allowed),
        Err(denied) => denied,
    };
    // The newest block's state is proven only by the header after it: a
    // grant or an emergency access committed in it is seen once that header
    // comes (a block interval at most), so a refusal waits for it once.
    let mut newer = match chain.after(denied.1 + 1).await {
        Ok(view) => view,
        // No newer header yet: the proven refusal stands.
        Err(_) => return Err(Failure::new(ErrorCode::AccessDenied, denied.0)),
    };
    match decide_in(&mut newer, patient, reader, category, level).await? {
        Ok(allowed) => Ok(allowed),
        Err((reason, _)) => Err(Failure::new(ErrorCode::AccessDenied, reason)),
    }
}

/// Whether `author` may store the result of lab order `order_id` for
/// `patient`: a technician of the ordered lab, the order open and hers (the
/// ledger's rule for posting the result, on proven state; the newest
/// block's order is seen once the header after it comes).
pub async fn may_post_result(
    chain: &ProvenState,
    patient: &Address,
    author: &Address,
    order_id: u64,
) -> Result<(), Failure> {
    let mut view = chain.latest().await?;
    let mut refusal = match order_in(&mut view, patient, author, order_id).await? {
        Ok(()) => return Ok(()),
        Err(reason) => reason,
    };
    if let Ok(mut newer) = chain.after(view.height + 1).await {
        refusal = match order_in(&mut newer, patient, author, order_id).await? {
            Ok(()) => return Ok(()),
            Err(reason) => reason,
        };
    }
    Err(Failure::new(ErrorCode::AccessDenied, refusal))
}

/// Whether `author` may store a record of amendment `amendment_id` of
/// `patient` — its correction or a denial's explanation: the amendment is
/// open and theirs to decide (the ledger's rule, `amendments::to_decide`,
/// on proven state; the newest block's request is seen once the header
/// after it comes).
pub async fn may_decide_amendment(
    chain: &ProvenState,
    patient: &Address,
    author: &Address,
    amendment_id: u64,
) -> Result<(), Failure> {
    let mut view = chain.latest().await?;
    let mut refusal = match amendment_in(&mut view, patient, author, amendment_id).await? {
        Ok(()) => return Ok(()),
        Err(reason) => reason,
    };
    if let Ok(mut newer) = chain.after(view.height + 1).await {
        refusal = match amendment_in(&mut newer, patient, author, amendment_id).await? {
            Ok(()) => return Ok(()),
            Err(reason) => reason,
        };
    }
    Err(Failure::new(ErrorCode::AccessDenied, refusal))
}

async fn amendment_in(
    view: &mut View<'_>,
    patient: &Address,
    author: &Address,
    amendment_id: u64,
) -> Result<Result<(), String>, Failure> {
    view.prove([
        keys::participant(author).into_bytes(),
        keys::amendment(amendment_id).into_bytes(),
    ])
    .await?;
    let decided = view
        .run(|state| to_decide(state, author, amendment_id))
        .await?;
    Ok(match decided {
        Ok(a) if a.patient == patient.0 => Ok(()),
        Ok(_) => Err(format!("amendment {amendment_id} is another patient's")),
        Err(r) => Err(r.message),
    })
}

/// Whether `tech` is a lab technician of a lab holding an open order of
/// `patient`: who may see her key to seal the result. The lab's worklist is
/// a list, answered without proof, so it only names candidates; each one is
/// proven and checked by the ledger's rule (a node can hide an order, not
/// make one up).
pub async fn lab_with_open_order(
    chain: &ProvenState,
    patient: &Address,
    tech: &Address,
) -> Result<bool, Failure> {
    let mut view = chain.latest().await?;
    let Some(me) = view.get::<Participant>(&keys::participant(tech)).await? else {
        return Ok(false);
    };
    if me.kind != ParticipantKind::Staff as i32 || me.role != Role::LabTechnician as i32 {
        return Ok(false);
    }
    let worklist = chain
        .rpc()
        .query_all::<LabOrderList>(&format!("/lab-orders/{}", me.org_id))
        .await?;
    for order in worklist.iter().filter(|o| o.patient == patient.0).take(8) {
        if order_in(&mut view, patient, tech, order.id).await?.is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn order_in(
    view: &mut View<'_>,
    patient: &Address,
    author: &Address,
    order_id: u64,
) -> Result<Result<(), String>, Failure> {
    view.prove([
        keys::participant(author).into_bytes(),
        keys::order(order_id).into_bytes(),
    ])
    .await?;
    let order = view
        .run(|state| order_to_fulfil(state, author, order_id))
        .await?;
    Ok(match order {
        Ok(o) if o.patient == patient.0 => Ok(()),
        Ok(_) => Err(format!("order {order_id} is another patient's")),
        Err(r) => Err(r.message),
    })
}

/// The ledger's decision over the proven `view`: allowed, or the reason and
/// the view's height.
/// Whether `reader` may now read some category of `patient`'s records —
/// as the patient, their guardian, by a grant or an emergency access — on
/// the newest proven state: who may see who the patient's other readers are.
pub async fn any_basis(
    chain: &ProvenState,
    patient: &Address,
    reader: &Address,
) -> Result<bool, Failure> {
    let mut view = chain.latest().await?;
    for category in [
        Category::Vitals,
        Category::Labs,
        Category::Medications,
        Category::Notes,
        Category::Imaging,
    ] {
        if decide_in(&mut view, patient, reader, category, AccessLevel::Read)
            .await?
            .is_ok()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn decide_in(
    view: &mut View<'_>,
    patient: &Address,
    reader: &Address,
    category: Category,
    level: AccessLevel,
) -> Result<Result<Allowed, (String, u64)>, Failure> {
    // The keys every decision reads, proven at once; the rule asks for the rest.
    view.prove([
        keys::participant(patient).into_bytes(),
        keys::participant(reader).into_bytes(),
        keys::emergency(patient, reader).into_bytes(),
    ])
    .await?;
    let now = view.block_time();
    let decided = view
        .run(|state| decide(state, reader, patient, category, level, now))
        .await?;
    match decided {
        Ok(Decision::Allowed { basis, .. }) => Ok(Ok(Allowed {
            basis,
            height: view.height,
        })),
        Ok(Decision::Denied(r)) => Ok(Err((r.message, view.height))),
        Err(r) => Err(Failure::new(
            ErrorCode::ChainUnproven,
            format!(
                "the chain's state could not be read as the ledger stores it: {}",
                r.message
            ),
        )),
    }
}

/// The caller must be the patient or their guardian (key management is theirs).
pub async fn patient_or_guardian(
    chain: &ProvenState,
    patient: &Address,
    caller: &Address,
) -> Result<Allowed, Failure> {
    let only = || {
        Failure::new(
            ErrorCode::PatientOrGuardianOnly,
            format!("only {patient} or their guardian manage the keys of their records"),
        )
    };
    let allowed = may_read(chain, patient, caller, Category::All)
        .await
        .map_err(|f| {
            if f.code == ErrorCode::AccessDenied {
                only()
            } else {
                f
            }
        })?;
    match allowed.basis {
        AccessBasis::Patient | AccessBasis::Guardian => Ok(allowed),
        _ => Err(only()),
    }
}

/// The public key a reader's wraps are made for, proven on chain: the
/// guardian key the patient registered, or the reader's registered key.
/// The key `reader` holds now, if the chain names one: a participant's
/// current key, or the patient's guardian's key.
pub async fn current_key(
    chain: &ProvenState,
    patient: &Address,
    reader: &Address,
) -> Result<Option<PublicKey>, Failure> {
    let mut view = chain.latest().await?;
    if let Some(p) = view.get::<Participant>(&keys::participant(reader)).await? {
        return Ok(PublicKey::from_bytes(&p.public_key));
    }
    let guardian = view
        .get::<Participant>(&keys::participant(patient))
        .await?
        .and_then(|p| PublicKey::from_bytes(&p.guardian_public_key))
        .filter(|k| k.address() == *reader);
    Ok(guardian)
}

pub async fn reader_key(
    chain: &ProvenState,
    patient: &Address,
    reader: &Address,
    basis: AccessBasis,
) -> Result<PublicKey, Failure> {
    let who = if basis == AccessBasis::Guardian {
        patient
    } else {
        reader
    };
    let mut view = chain.latest().await?;
    let p: Option<Participant> = view.get(&keys::participant(who)).await?;
    let key = match (basis, p) {
        // The key the guardian holds now (a registered guardian may have
        // replaced the one the patient named).
        (AccessBasis::Guardian, Some(p)) => readers::guardian(&mut view, &p).await?.map(|g| g.key),
        (_, Some(p)) => PublicKey::from_bytes(&p.public_key),
        (_, None) => None,
    };
    key.ok_or_else(|| {
        Failure::new(
            ErrorCode::UnknownReader,
            format!("{reader} has no key registered on chain"),
        )
    })
}
