//! A patient (or guardian) grants and revokes access, and turns research
//! consent on or off; a clinician asks a patient for access, and the patient
//! answers by granting (which closes the request) or declining it.

use crate::crypto::Address;
use crate::proto::{
    grantee, AccessRequest, Category, Counter, DeclineAccessRequest, Grant, GrantAccess, Grantee,
    ParticipantKind, RequestAccess, RevokeAccess, SetResearchConsent,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::access::{category_name, CLINICAL_ROLES};
use super::super::actors::{
    self, describe, require_patient, require_patient_or_guardian, require_staff,
};
use super::super::context::Ctx;
use super::super::keys;

const EVERY_CATEGORY: [Category; 7] = [
    Category::Vitals,
    Category::Labs,
    Category::Medications,
    Category::Notes,
    Category::Imaging,
    Category::Demographics,
    Category::All,
];

fn describe_grantee(g: &Grantee) -> String {
    match &g.kind {
        Some(grantee::Kind::Clinician(a)) => {
            Address::from_slice(a).map_or_else(|| "?".into(), |a| a.to_string())
        }
        Some(grantee::Kind::Organisation(o)) => format!("organisation {o}"),
        None => "nobody".into(),
    }
}

/// A grantee must be an active clinician or an active member organisation.
fn require_grantee(state: &impl StateRead, g: &Grantee) -> Result<(), Refusal> {
    match &g.kind {
        Some(grantee::Kind::Clinician(a)) => {
            let a = actors::address("grantee clinician", a)?;
            let p = actors::participant(state, &a)?.ok_or_else(|| {
                Refusal::new(
                    Code::UnknownParticipant,
                    format!("grantee {a} is not registered"),
                )
            })?;
            let clinical = p.kind == ParticipantKind::Staff as i32
                && CLINICAL_ROLES.iter().any(|r| *r as i32 == p.role);
            if !clinical {
                return refuse(
                    Code::WrongRole,
                    format!(
                        "grantee {a} is {}; access is granted to clinicians or organisations",
                        describe(&p)
                    ),
                );
            }
            Ok(())
        }
        Some(grantee::Kind::Organisation(o)) => {
            if !actors::is_active_member(state, o)? {
                return refuse(
                    Code::UnknownOrganisation,
                    format!("{o} is not an active member organisation"),
                );
            }
            Ok(())
        }
        None => refuse(
            Code::InvalidField,
            "grantee must name a clinician or an organisation",
        ),
    }
}

fn categories(list: &[i32]) -> Vec<Category> {
    list.iter()
        .filter_map(|c| Category::try_from(*c).ok())
        .collect()
}

pub fn grant(ctx: &mut Ctx, g: &GrantAccess) -> Result<(), Refusal> {
    require_patient_or_guardian(
        ctx.state,
        &ctx.signer,
        &g.patient,
        "grant access to their records",
    )?;
    let patient = actors::address("patient", &g.patient)?;
    let grantee = g.grantee.clone().unwrap_or_default();
    require_grantee(ctx.state, &grantee)?;
    ctx.require_future("expires_at", g.expires_at)?;
    for category in categories(&g.categories) {
        ctx.state.put(
            keys::grant(&patient, &grantee, category),
            &Grant {
                patient: g.patient.clone(),
                grantee: Some(grantee.clone()),
                category: category as i32,
                access: g.access,
                expires_at: g.expires_at,
                granted_at: ctx.time,
            },
        );
        // An index entry (empty value, as the other indexes).
        ctx.state.put(
            keys::granted_to_entry(&grantee, &patient, category),
            &Counter::default(),
        );
        ctx.emit(
            "access_granted",
            &[
                ("patient", patient.to_string()),
                ("grantee", describe_grantee(&grantee)),
                ("category", category_name(category).to_string()),
                ("expires_at", g.expires_at.to_string()),
            ],
        );
    }
    // A clinician granted what he asked for has had his answer.
    if let Some(grantee::Kind::Clinician(a)) = &grantee.kind {
        let requester = actors::address("grantee clinician", a)?;
        let asked: Option<AccessRequest> = ctx
            .state
            .get(keys::access_request(&patient, &requester).as_bytes())?;
        let granted = categories(&g.categories);
        let answered = asked.is_some_and(|r| {
            granted.contains(&Category::All)
                || categories(&r.categories)
                    .iter()
                    .all(|c| granted.contains(c))
        });
        if answered {
            close_request(ctx, &patient, &requester, "granted")?;
        }
    }
    Ok(())
}

/// A clinician asks the patient for access (or for the keys of records
/// written before their grant): one open request per clinician and patient.
pub fn request(ctx: &mut Ctx, r: &RequestAccess) -> Result<(), Refusal> {
    // An active clinician of a current member only: a suspended one asks nobody.
    require_staff(
        ctx.state,
        &ctx.signer,
        &CLINICAL_ROLES,
        "a clinician (doctor, nurse, pharmacist, lab technician) may ask a patient for access",
    )?;
    let patient = actors::address("patient", &r.patient)?;
    require_patient(ctx.state, &patient)?;
    ctx.state.put(
        keys::access_request(&patient, &ctx.signer),
        &AccessRequest {
            patient: r.patient.clone(),
            requester: ctx.signer.0.to_vec(),
            categories: r.categories.clone(),
            requested_at: ctx.time,
        },
    );
    ctx.emit(
        "access_requested",
        &[
            ("patient", patient.to_string()),
            ("requester", ctx.signer.to_string()),
        ],
    );
    Ok(())
}

/// The patient (or guardian) closes a request without granting it.
pub fn decline(ctx: &mut Ctx, d: &DeclineAccessRequest) -> Result<(), Refusal> {
    require_patient_or_guardian(
        ctx.state,
        &ctx.signer,
        &d.patient,
        "decline a request for access",
    )?;
    let patient = actors::address("patient", &d.patient)?;
    let requester = actors::address("requester", &d.requester)?;
    if !close_request(ctx, &patient, &requester, "declined")? {
        return refuse(
            Code::UnknownRequest,
            format!("{requester} has no open request for access to {patient}'s records"),
        );
    }
    Ok(())
}

/// Removes `requester`'s open request, if any, saying how it was answered.
fn close_request(
    ctx: &mut Ctx,
    patient: &Address,
    requester: &Address,
    answer: &str,
) -> Result<bool, Refusal> {
    let key = keys::access_request(patient, requester);
    if ctx.state.get_raw(key.as_bytes())?.is_none() {
        return Ok(false);
    }
    ctx.state.delete(key);
    ctx.emit(
        "access_request_closed",
        &[
            ("patient", patient.to_string()),
            ("requester", requester.to_string()),
            ("answer", answer.to_string()),
        ],
    );
    Ok(true)
}

pub fn revoke(ctx: &mut Ctx, r: &RevokeAccess) -> Result<(), Refusal> {
    require_patient_or_guardian(
        ctx.state,
        &ctx.signer,
        &r.patient,
        "revoke access to their records",
    )?;
    let patient = actors::address("patient", &r.patient)?;
    let grantee = r.grantee.clone().unwrap_or_default();
    let wanted = if r.categories.is_empty() {
        EVERY_CATEGORY.to_vec()
    } else {
        categories(&r.categories)
    };
    let mut revoked = 0;
    for category in wanted {
        let key = keys::grant(&patient, &grantee, category);
        if ctx.state.get_raw(key.as_bytes())?.is_some() {
            ctx.state.delete(key);
            ctx.state
                .delete(keys::granted_to_entry(&grantee, &patient, category));
            revoked += 1;
            ctx.emit(
                "access_revoked",
                &[
                    ("patient", patient.to_string()),
                    ("grantee", describe_grantee(&grantee)),
                    ("category", category_name(category).to_string()),
                ],
            );
        }
    }
    if revoked == 0 {
        return refuse(
            Code::UnknownGrant,
            format!(
                "{} holds no grant of those categories from {patient}",
                describe_grantee(&grantee)
            ),
        );
    }
    Ok(())
}

pub fn research_consent(ctx: &mut Ctx, s: &SetResearchConsent) -> Result<(), Refusal> {
    let mut p = require_patient_or_guardian(
        ctx.state,
        &ctx.signer,
        &s.patient,
        "change research consent",
    )?;
    let patient = actors::address("patient", &s.patient)?;
    p.research_consent = s.consent;
    ctx.state.put(keys::participant(&patient), &p);
    ctx.emit(
        "research_consent",
        &[
            ("patient", patient.to_string()),
            ("consent", s.consent.to_string()),
        ],
    );
    Ok(())
}
