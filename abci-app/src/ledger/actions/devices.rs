//! A device is bound to one patient, by that patient (or guardian) or by an
//! admin of a member organisation, and can be revoked by the same.

use crate::proto::{BindDevice, Counter, Device, DeviceStatus, Participant, RevokeDevice, Role};
use crate::refusal::{refuse, Code, Refusal};
use crate::storage::StateRead;

use super::super::actors::{self, acts_for, require_patient, require_staff};
use super::super::context::Ctx;
use super::super::keys;
use crate::tx::validate;

const WHO: &str =
    "the patient, their guardian or an admin of a member organisation may bind or revoke a device";

/// The patient or guardian may; otherwise the signer must be an active member admin.
fn require_device_authority(ctx: &Ctx, patient: &Participant) -> Result<(), Refusal> {
    if acts_for(patient, &ctx.signer).is_some() {
        return Ok(());
    }
    require_staff(ctx.state, &ctx.signer, &[Role::Admin], WHO).map(drop)
}

pub fn bind(ctx: &mut Ctx, b: &BindDevice) -> Result<(), Refusal> {
    let patient_address = actors::address("patient", &b.patient)?;
    let patient = require_patient(ctx.state, &patient_address)?;
    require_device_authority(ctx, &patient)?;
    let key = validate::public_key("device public_key", &b.public_key)?;
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
    require_device_authority(ctx, &patient)?;
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
