//! A device is bound to one patient, by that patient (or guardian) or by an
//! admin of a hospital the patient trusts with their vitals, and can be
//! revoked by the same or by the hospital that bound it.
//!
//! A device's readings verify as the patient's, so binding is a power over
//! the patient's record: an admin of any member may not use it on any patient.

use crate::crypto::Address;
use crate::proto::{
    AccessLevel, BindDevice, Category, Counter, Device, DeviceStatus, Participant, RevokeDevice,
    Role,
};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::access::organisation_trusted;
use super::super::actors::{self, acts_for, require_patient, require_staff};
use super::super::context::Ctx;
use super::super::keys;
use crate::tx::validate;

/// Devices ever bound to one patient (ids are never reused, so revoked ones
/// count): a ward's worth, and a bound on what one patient adds to the state.
pub const MAX_DEVICES_PER_PATIENT: usize = 64;

const WHO: &str =
    "the patient, their guardian or an admin of a member organisation may bind or revoke a device";

/// The patient or guardian may. An admin of an active member may when the
/// patient lets the admin's organisation write their vitals, or — to revoke —
/// when an admin of that organisation bound the device.
fn require_device_authority(
    ctx: &Ctx,
    patient_address: &Address,
    patient: &Participant,
    bound_by: Option<&[u8]>,
) -> Result<(), Refusal> {
    if acts_for(patient, &ctx.signer).is_some() {
        return Ok(());
    }
    let admin = require_staff(ctx.state, &ctx.signer, &[Role::Admin], WHO)?;
    let trusted = organisation_trusted(
        ctx.state,
        patient_address,
        &admin.org_id,
        Category::Vitals,
        AccessLevel::Write,
        ctx.time,
    )?;
    let bound_here = match bound_by.and_then(Address::from_slice) {
        // Bound by that organisation's staff (a patient's `org_id` names the
        // hospital that enrolled them, which binds nothing of theirs).
        Some(b) => actors::participant(ctx.state, &b)?.is_some_and(|p| {
            p.kind == crate::proto::ParticipantKind::Staff as i32 && p.org_id == admin.org_id
        }),
        None => false,
    };
    if trusted || bound_here {
        return Ok(());
    }
    refuse(
        Code::NoAccess,
        format!(
            "an admin of {} acts on {patient_address}'s devices only when the patient grants {} write access to their vitals (or, to revoke, when {} bound the device)",
            admin.org_id, admin.org_id, admin.org_id
        ),
    )
}

pub fn bind(ctx: &mut Ctx, b: &BindDevice) -> Result<(), Refusal> {
    let patient_address = actors::address("patient", &b.patient)?;
    let patient = require_patient(ctx.state, &patient_address)?;
    require_device_authority(ctx, &patient_address, &patient, None)?;
    let key = validate::public_key("device public_key", &b.public_key)?;
    let bound = ctx
        .state
        .scan_raw(
            keys::patient_devices(&patient_address).as_bytes(),
            MAX_DEVICES_PER_PATIENT + 1,
        )?
        .len();
    if bound >= MAX_DEVICES_PER_PATIENT {
        return refuse(
            Code::QuotaExceeded,
            format!(
                "{patient_address} already has {MAX_DEVICES_PER_PATIENT} devices bound (revoked ones included); no more can be bound"
            ),
        );
    }
    if let Some(existing) = ctx
        .state
        .get::<Device>(keys::device(&b.device_id).as_bytes())?
    {
        let how = if existing.status == DeviceStatus::Revoked as i32 {
            "was bound and revoked"
        } else {
            "is bound"
        };
        return refuse(
            Code::DeviceExists,
            format!(
                "device {} {how} already; a device id is never reused",
                b.device_id
            ),
        );
    }
    ctx.state.put(
        keys::device(&b.device_id),
        &Device {
            device_id: b.device_id.clone(),
            public_key: key.to_bytes().to_vec(),
            patient: b.patient.clone(),
            status: DeviceStatus::Active as i32,
            bound_by: ctx.signer.0.to_vec(),
            bound_at: ctx.time,
            revoked_at: 0,
        },
    );
    ctx.state.put(
        format!("{}{}", keys::patient_devices(&patient_address), b.device_id),
        &Counter::default(),
    );
    ctx.emit(
        "device_bound",
        &[
            ("device_id", b.device_id.clone()),
            ("patient", patient_address.to_string()),
        ],
    );
    Ok(())
}

pub fn revoke(ctx: &mut Ctx, r: &RevokeDevice) -> Result<(), Refusal> {
    let key = keys::device(&r.device_id);
    let mut device: Device = ctx.state.get(key.as_bytes())?.ok_or_else(|| {
        Refusal::new(
            Code::UnknownDevice,
            format!("there is no device {}", r.device_id),
        )
    })?;
    let patient_address = actors::address("patient", &device.patient)?;
    let patient = require_patient(ctx.state, &patient_address)?;
    require_device_authority(ctx, &patient_address, &patient, Some(&device.bound_by))?;
    if device.status == DeviceStatus::Revoked as i32 {
        return refuse(
            Code::DeviceRevoked,
            format!("device {} is already revoked", r.device_id),
        );
    }
    device.status = DeviceStatus::Revoked as i32;
    device.revoked_at = ctx.time;
    ctx.state.put(key, &device);
    ctx.emit(
        "device_revoked",
        &[
            ("device_id", r.device_id.clone()),
            ("patient", patient_address.to_string()),
        ],
    );
    Ok(())
}
