//! May this accessor read (or write) this category of this patient's records now?
//!
//! One function answers it for every caller: the rules that need write access
//! (anchoring a record, ordering, prescribing), the audit log (which records
//! the basis of each disclosure), and the `/access` query the gateway asks.

use crate::crypto::Address;
use crate::proto::{
    grantee, AccessBasis, AccessDecision, AccessLevel, Category, EmergencyAccess, Grant, Grantee,
    ParticipantKind, Role,
};
use crate::refusal::{Code, Refusal};
use crate::storage::StateRead;

use super::actors::{self, acts_for, describe};
use super::keys;

/// Roles that may hold grants and read clinical records.
pub const CLINICAL_ROLES: [Role; 4] = [
    Role::Doctor,
    Role::Nurse,
    Role::Pharmacist,
    Role::LabTechnician,
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed { basis: AccessBasis, until: i64 },
    Denied(Refusal),
}

impl Decision {
    pub fn into_result(self) -> Result<AccessBasis, Refusal> {
        match self {
            Decision::Allowed { basis, .. } => Ok(basis),
            Decision::Denied(r) => Err(r),
        }
    }

    pub fn to_proto(&self) -> AccessDecision {
        match self {
            Decision::Allowed { basis, until } => AccessDecision {
                allowed: true,
                basis: *basis as i32,
                reason: String::new(),
                until: *until,
            },
            Decision::Denied(r) => AccessDecision {
                allowed: false,
                basis: AccessBasis::None as i32,
                reason: r.message.clone(),
                until: 0,
            },
        }
    }
}

fn denied(code: Code, reason: String) -> Result<Decision, Refusal> {
    Ok(Decision::Denied(Refusal::new(code, reason)))
}

fn grant_covers(g: &Grant, level: AccessLevel, now: i64) -> bool {
    let level_ok = match level {
        AccessLevel::Write => g.access == AccessLevel::Write as i32,
        _ => g.access == AccessLevel::Read as i32 || g.access == AccessLevel::Write as i32,
    };
    level_ok && now < g.expires_at
}

/// The latest-expiring current grant to `grantee` covering `category`.
fn current_grant(
    state: &impl StateRead,
    patient: &Address,
    grantee: &Grantee,
    category: Category,
    level: AccessLevel,
    now: i64,
) -> Result<Option<i64>, Refusal> {
    let mut until = None;
    // Rewriting who a patient is takes a grant for exactly that: an `all`
    // write grant (a doctor's orders and notes) is not one.
    let covering: &[Category] = if rewrites_identity(category, level) {
        &[Category::Demographics]
    } else {
        &[category, Category::All]
    };
    for &c in covering {
        let g: Option<Grant> = state.get(keys::grant(patient, grantee, c).as_bytes())?;
        if let Some(g) = g.filter(|g| grant_covers(g, level, now)) {
            until = until.max(Some(g.expires_at));
        }
    }
    Ok(until)
}

/// Whether `patient` holds a current grant to organisation `org` covering
/// `category` at `level` (for powers of an organisation's admin that only the
/// patient's trust in that hospital justifies, such as binding a device).
pub fn organisation_trusted(
    state: &impl StateRead,
    patient: &Address,
    org: &str,
    category: Category,
    level: AccessLevel,
    now: i64,
) -> Result<bool, Refusal> {
    let grantee = Grantee {
        kind: Some(grantee::Kind::Organisation(org.to_string())),
    };
    Ok(current_grant(state, patient, &grantee, category, level, now)?.is_some())
}

/// Writing demographics: who the patient is, for every reader after.
fn rewrites_identity(category: Category, level: AccessLevel) -> bool {
    category == Category::Demographics && level == AccessLevel::Write
}

/// A grant of any of these lets its holder read the patient's demographics.
const READABLE_WITH_DEMOGRAPHICS: [Category; 6] = [
    Category::Demographics,
    Category::Vitals,
    Category::Labs,
    Category::Medications,
    Category::Notes,
    Category::Imaging,
];

/// Whether `staff` is an active admin of the active member organisation
/// that enrolled `patient`: its front desk, which seals who they are.
fn home_admin(
    state: &impl StateRead,
    staff: &crate::proto::Participant,
    patient: &crate::proto::Participant,
) -> Result<bool, Refusal> {
    Ok(staff.kind == ParticipantKind::Staff as i32
        && staff.role == Role::Admin as i32
        && staff.status == crate::proto::ParticipantStatus::Active as i32
        && !patient.org_id.is_empty()
        && staff.org_id == patient.org_id
        && actors::is_active_member(state, &staff.org_id)?)
}

pub fn decide(
    state: &impl StateRead,
    accessor: &Address,
    patient: &Address,
    category: Category,
    level: AccessLevel,
    now: i64,
) -> Result<Decision, Refusal> {
    let patient_record = match actors::participant(state, patient)? {
        Some(p) if p.kind == ParticipantKind::Patient as i32 => p,
        _ => {
            return denied(
                Code::UnknownPatient,
                format!("{patient} is not a registered patient"),
            )
        }
    };
    if let Some(basis) = acts_for(&patient_record, accessor) {
        return Ok(Decision::Allowed { basis, until: 0 });
    }
    let p = match actors::participant(state, accessor)? {
        Some(p) => p,
        None => {
            return denied(
                Code::NotRegistered,
                format!("{accessor} is not a registered participant"),
            )
        }
    };
    if p.kind == ParticipantKind::Patient as i32 {
        return denied(
            Code::NotPatientOrGuardian,
            format!("{accessor} is another patient, not {patient} or their guardian"),
        );
    }
    if category == Category::Demographics && home_admin(state, &p, &patient_record)? {
        return Ok(Decision::Allowed {
            basis: AccessBasis::HomeOrganisation,
            until: 0,
        });
    }
    if p.kind != ParticipantKind::Staff as i32
        || !CLINICAL_ROLES.iter().any(|r| *r as i32 == p.role)
    {
        return denied(
            Code::WrongRole,
            format!(
                "{accessor} is {}; only clinicians hold access to records",
                describe(&p)
            ),
        );
    }
    if p.status != crate::proto::ParticipantStatus::Active as i32 {
        return denied(Code::Suspended, format!("{accessor} is suspended"));
    }
    if !actors::is_active_member(state, &p.org_id)? {
        return denied(
            Code::OrgNotMember,
            format!(
                "{accessor}'s organisation {} is not an active member",
                p.org_id
            ),
        );
    }
    let personal = Grantee {
        kind: Some(grantee::Kind::Clinician(accessor.0.to_vec())),
    };
    let organisational = Grantee {
        kind: Some(grantee::Kind::Organisation(p.org_id.clone())),
    };
    // Who the patient is may be read by whoever may read anything of theirs.
    let covering: &[Category] = if category == Category::Demographics && level == AccessLevel::Read
    {
        &READABLE_WITH_DEMOGRAPHICS
    } else {
        std::slice::from_ref(&category)
    };
    let mut until = None;
    for g in [&personal, &organisational] {
        for c in covering {
            until = until.max(current_grant(state, patient, g, *c, level, now)?);
        }
    }
    if let Some(until) = until {
        return Ok(Decision::Allowed {
            basis: AccessBasis::Grant,
            until,
        });
    }
    let emergency: Option<EmergencyAccess> =
        state.get(keys::emergency(patient, accessor).as_bytes())?;
    // Break-glass reads who the patient is; it does not rename them.
    let emergency = emergency.filter(|_| !rewrites_identity(category, level));
    if let Some(e) = emergency.filter(|e| now < e.expires_at) {
        return Ok(Decision::Allowed {
            basis: AccessBasis::Emergency,
            until: e.expires_at,
        });
    }
    let level_name = if level == AccessLevel::Write {
        "write"
    } else {
        "read"
    };
    denied(
        Code::NoAccess,
        format!(
            "{accessor} holds no current {level_name} grant for {} records of patient {patient}, and no open emergency access",
            category_name(category)
        ),
    )
}

/// The category a name (`category_name`) names.
pub fn category_named(name: &str) -> Option<Category> {
    [
        Category::Vitals,
        Category::Labs,
        Category::Medications,
        Category::Notes,
        Category::Imaging,
        Category::Demographics,
        Category::All,
    ]
    .into_iter()
    .find(|c| category_name(*c) == name)
}

pub fn category_name(c: Category) -> &'static str {
    match c {
        Category::Vitals => "vitals",
        Category::Labs => "labs",
        Category::Medications => "medications",
        Category::Notes => "notes",
        Category::Imaging => "imaging",
        Category::All => "all",
        Category::Demographics => "demographics",
        Category::Unspecified => "unspecified",
    }
}
