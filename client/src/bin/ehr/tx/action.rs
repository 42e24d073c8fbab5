//! The action each `ehr tx` subcommand signs.

use anyhow::anyhow;
use ehr_ledger::proto::{action::Kind, governance_change, *};

use super::command::*;
use crate::args::*;
use crate::{Ctx, Result};

pub(crate) fn action(ctx: &Ctx, a: &TxCommand, document: Option<RecordRef>) -> Result<Kind> {
    Ok(match a {
        TxCommand::EnrollPatient { keys } => Kind::EnrollPatient(EnrollPatient {
            public_keys: keys
                .iter()
                .map(|k| ctx.public_key(k))
                .collect::<Result<_>>()?,
        }),
        TxCommand::RegisterPatient { guardian } => Kind::RegisterPatient(RegisterPatient {
            guardian_public_key: ctx.optional_public_key(guardian.as_deref())?,
        }),
        TxCommand::SetGuardian { patient, guardian } => Kind::SetGuardian(SetGuardian {
            patient: ctx.addr(patient)?,
            guardian_public_key: ctx.optional_public_key(guardian.as_deref())?,
        }),
        TxCommand::RegisterStaff { key, role } => Kind::RegisterStaff(RegisterStaff {
            public_key: ctx.public_key(key)?,
            role: (match role {
                RoleArg::Doctor => Role::Doctor,
                RoleArg::Nurse => Role::Nurse,
                RoleArg::Pharmacist => Role::Pharmacist,
                RoleArg::LabTechnician => Role::LabTechnician,
                RoleArg::Admin => Role::Admin,
            }) as i32,
        }),
        TxCommand::RegisterService { key, kind } => Kind::RegisterService(RegisterService {
            public_key: ctx.public_key(key)?,
            kind: (match kind {
                ServiceArg::Ingest => ServiceKind::Ingest,
                ServiceArg::Gateway => ServiceKind::Gateway,
            }) as i32,
        }),
        TxCommand::Suspend { address } => Kind::Suspend(SuspendParticipant {
            address: ctx.addr(address)?,
        }),
        TxCommand::Reinstate { address } => Kind::Reinstate(ReinstateParticipant {
            address: ctx.addr(address)?,
        }),
        TxCommand::BindDevice {
            device_id,
            key,
            patient,
        } => Kind::BindDevice(BindDevice {
            device_id: device_id.clone(),
            public_key: ctx.public_key(key)?,
            patient: ctx.addr(patient)?,
        }),
        TxCommand::RevokeDevice { device_id } => Kind::RevokeDevice(RevokeDevice {
            device_id: device_id.clone(),
        }),
        TxCommand::Grant {
            patient,
            grantee: g,
            categories,
            access,
            expires_in,
        } => Kind::GrantAccess(GrantAccess {
            patient: ctx.addr(patient)?,
            grantee: grantee(ctx, g)?,
            categories: categories.iter().map(|c| category(*c)).collect(),
            access: (match access {
                AccessArg::Read => AccessLevel::Read,
                AccessArg::Write => AccessLevel::Write,
            }) as i32,
            expires_at: now() + duration_secs(expires_in)?,
        }),
        TxCommand::Revoke {
            patient,
            grantee: g,
            categories,
        } => Kind::RevokeAccess(RevokeAccess {
            patient: ctx.addr(patient)?,
            grantee: grantee(ctx, g)?,
            categories: categories.iter().map(|c| category(*c)).collect(),
        }),
        TxCommand::ResearchConsent { patient, consent } => {
            Kind::SetResearchConsent(SetResearchConsent {
                patient: ctx.addr(patient)?,
                consent: matches!(consent, OnOff::On),
            })
        }
        TxCommand::RequestAmendment { .. }
        | TxCommand::AcceptAmendment { .. }
        | TxCommand::DenyAmendment { .. }
        | TxCommand::FileDisagreement { .. } => {
            return Err(anyhow!(
                "an amendment's records are sealed first (tx::amendments)"
            ))
        }
        TxCommand::RotateKey { .. } => {
            return Err(anyhow!(
                "rotate-key is signed with the new key's proof (tx::rotate)"
            ))
        }
        TxCommand::SetRecoveryContacts {
            patient,
            contacts,
            threshold,
        } => Kind::SetRecoveryContacts(SetRecoveryContacts {
            patient: ctx.addr(patient)?,
            contacts: contacts
                .iter()
                .map(|c| ctx.addr(c))
                .collect::<Result<_>>()?,
            threshold: *threshold,
        }),
        TxCommand::ApproveRecovery {
            patient,
            key,
            proof,
        } => Kind::ApproveRecovery(ApproveRecovery {
            patient: ctx.addr(patient)?,
            new_public_key: ctx.public_key(key)?,
            new_key_proof: hex::decode(proof)
                .ok()
                .filter(|p| p.len() == 64)
                .ok_or_else(|| {
                    anyhow!("--proof must be 128 hex digits (ehr keys prove-binding)")
                })?,
        }),
        TxCommand::Erase {
            patient,
            records,
            categories,
            everything,
            basis,
            reference,
        } => Kind::EraseRecords(EraseRecords {
            patient: ctx.addr(patient)?,
            record_ids: records.clone(),
            categories: categories.iter().map(|c| category(*c)).collect(),
            everything: *everything,
            basis: (match basis {
                ErasureArg::PatientRequest => ErasureBasis::PatientRequest,
                ErasureArg::ConsentWithdrawn => ErasureBasis::ConsentWithdrawn,
                ErasureArg::LegalOrder => ErasureBasis::LegalOrder,
            }) as i32,
            reference: reference.clone(),
        }),
        TxCommand::LegalHold {
            patient,
            categories,
            duration,
            reason,
            reference,
        } => {
            let secs = duration_secs(duration)?;
            Kind::SetLegalHold(SetLegalHold {
                patient: ctx.addr(patient)?,
                categories: categories.iter().map(|c| category(*c)).collect(),
                until: if secs == 0 { 0 } else { now() + secs },
                reason: (match reason {
                    HoldArg::Litigation => HoldReason::Litigation,
                    HoldArg::RegulatoryRetention => HoldReason::RegulatoryRetention,
                    HoldArg::Investigation => HoldReason::Investigation,
                }) as i32,
                reference: reference.clone(),
            })
        }
        TxCommand::Emergency {
            patient,
            reason,
            justification,
        } => Kind::OpenEmergencyAccess(OpenEmergencyAccess {
            patient: ctx.addr(patient)?,
            reason: (match reason {
                ReasonArg::Unconscious => EmergencyReason::Unconscious,
                ReasonArg::LifeThreatening => EmergencyReason::LifeThreatening,
                ReasonArg::UnableToConsent => EmergencyReason::UnableToConsent,
                ReasonArg::Other => EmergencyReason::Other,
            }) as i32,
            justification: justification.clone(),
        }),
        TxCommand::OrderLab { patient, lab, .. } => Kind::OrderLabTest(OrderLabTest {
            patient: ctx.addr(patient)?,
            lab_org: lab.clone(),
            order: document,
        }),
        TxCommand::PostLabResult { order, record: r } => Kind::PostLabResult(PostLabResult {
            order_id: *order,
            record: Some(record(ctx, r)?),
        }),
        TxCommand::Prescribe {
            patient,
            refills,
            valid_for,
            ..
        } => Kind::Prescribe(Prescribe {
            patient: ctx.addr(patient)?,
            refills: *refills,
            valid_until: now() + duration_secs(valid_for)?,
            content: document,
        }),
        TxCommand::Dispense { prescription } => Kind::Dispense(Dispense {
            prescription_id: *prescription,
        }),
        TxCommand::Demographics { .. } => Kind::AnchorRecord(AnchorRecord {
            record: Some(document.ok_or_else(|| anyhow!("the demographics were not sealed"))?),
        }),
        TxCommand::AnchorRecord { record: r } => Kind::AnchorRecord(AnchorRecord {
            record: Some(record(ctx, r)?),
        }),
        TxCommand::AnchorBatch {
            batch_id,
            root,
            count,
            first,
            last,
        } => Kind::AnchorBatch(AnchorBatch {
            batch_id: *batch_id,
            merkle_root: hex::decode(root).map_err(|_| anyhow!("--root must be hex"))?,
            record_count: *count,
            first_record: *first,
            last_record: *last,
        }),
        TxCommand::Propose(p) => Kind::Propose(Propose {
            change: Some(GovernanceChange {
                kind: Some(match p {
                    ProposeCommand::AddMember {
                        org,
                        name,
                        admin_key,
                    } => governance_change::Kind::AddMember(AddMember {
                        org_id: org.clone(),
                        name: name.clone(),
                        admin_public_key: ctx.public_key(admin_key)?,
                    }),
                    ProposeCommand::RemoveMember { org } => {
                        governance_change::Kind::RemoveMember(RemoveMember {
                            org_id: org.clone(),
                        })
                    }
                    ProposeCommand::AddValidator {
                        key,
                        power,
                        operator,
                    } => governance_change::Kind::AddValidator(AddValidator {
                        pub_key: validator_key(key)?,
                        power: *power,
                        operator_org: operator.clone(),
                    }),
                    ProposeCommand::RemoveValidator { key } => {
                        governance_change::Kind::RemoveValidator(RemoveValidator {
                            pub_key: validator_key(key)?,
                        })
                    }
                    ProposeCommand::AddCode {
                        system,
                        code,
                        display,
                        unit,
                        min,
                        max,
                    } => governance_change::Kind::AddCodes(AddCodes {
                        codes: vec![CodeEntry {
                            system: system.system() as i32,
                            code: code.clone(),
                            display: display.clone(),
                            unit: unit.clone().unwrap_or_default(),
                            min: min.unwrap_or_default(),
                            max: max.unwrap_or_default(),
                        }],
                    }),
                    ProposeCommand::RetireCode {
                        system,
                        code,
                        reason,
                        replaced_by,
                    } => governance_change::Kind::RetireCode(RetireCode {
                        system: system.system() as i32,
                        code: code.clone(),
                        reason: reason.clone(),
                        replaced_by: replaced_by.clone().unwrap_or_default(),
                    }),
                    ProposeCommand::SetValidatorPower { key, power } => {
                        governance_change::Kind::SetValidatorPower(SetValidatorPower {
                            pub_key: validator_key(key)?,
                            power: *power,
                        })
                    }
                }),
            }),
        }),
        TxCommand::Vote { proposal, vote } => Kind::Vote(Vote {
            proposal_id: *proposal,
            approve: matches!(vote, VoteArg::Approve),
        }),
    })
}
