//! `ehr tx` for an amendment: each step's words — the patient's reason, the
//! corrected record, a denial's explanation, her disagreement — sealed on
//! this machine and stored with the gateway before the transaction anchors
//! their hash (docs/ledger.md, amendment).

use anyhow::anyhow;
use ehr_client::read_path::documents::{correction_id, denial_id, Content, ForAmendment};
use ehr_ledger::crypto::{Address, SecretKey};
use ehr_ledger::ledger::access::category_name;
use ehr_ledger::proto::{
    action::Kind, AcceptAmendment, Amendment, Category, DenialReason, DenyAmendment,
    FileDisagreement, RequestAmendment, StoredRecordAnchor,
};

use super::command::TxCommand;
use crate::args::DenialArg;
use crate::clinical::write_as;
use crate::{Ctx, Result};

/// The record `id` as anchored: its patient and category.
async fn anchored(ctx: &Ctx, id: &str) -> Result<(Address, Category)> {
    let a: StoredRecordAnchor = ctx
        .rpc
        .query(&format!("/record/{id}"))
        .await?
        .ok_or_else(|| anyhow!("no record {id} is anchored"))?;
    let r = a.record.unwrap_or_default();
    let patient =
        Address::from_slice(&r.patient).ok_or_else(|| anyhow!("record {id} names no patient"))?;
    Ok((patient, Category::try_from(r.category).unwrap_or_default()))
}

async fn amendment(ctx: &Ctx, id: u64) -> Result<(Amendment, Address, Category)> {
    let a: Amendment = ctx
        .rpc
        .query(&format!("/amendment/{id}"))
        .await?
        .ok_or_else(|| anyhow!("there is no amendment {id}"))?;
    let (patient, category) = anchored(ctx, &a.record_id).await?;
    Ok((a, patient, category))
}

fn statement(about: &str, purpose: &str, category: Category, text: &str) -> Result<Content> {
    if text.trim().is_empty() || text.len() > 4000 {
        return Err(anyhow!("write 1 to 4000 characters"));
    }
    Ok(Content::Statement {
        about: about.to_string(),
        purpose: purpose.to_string(),
        category: category_name(category).to_string(),
        text: text.trim().to_string(),
    })
}

/// The transaction for an amendment command, its records sealed and stored;
/// `None` for other commands.
pub(crate) async fn action(ctx: &Ctx, key: &SecretKey, a: &TxCommand) -> Result<Option<Kind>> {
    Ok(Some(match a {
        TxCommand::RequestAmendment {
            patient,
            record,
            reason,
        } => {
            let (of, category) = anchored(ctx, record).await?;
            if of != ctx.address(patient)? {
                return Err(anyhow!("record {record} is not {patient}'s"));
            }
            let content = statement(record, "amendment_request", category, reason)?;
            let request = write_as(ctx, key, &of, content, None).await?;
            Kind::RequestAmendment(RequestAmendment {
                record_id: record.clone(),
                request: Some(request),
            })
        }
        TxCommand::AcceptAmendment {
            amendment: id,
            content,
        } => {
            let (a, patient, category) = amendment(ctx, *id).await?;
            let content: Content = serde_json::from_str(content).map_err(|e| {
                anyhow!("--content is not a record's content in JSON ({{\"kind\": …}}): {e}")
            })?;
            if content.category() != category {
                return Err(anyhow!(
                    "the correction of {} is a {} record, as the original is",
                    a.record_id,
                    category_name(category)
                ));
            }
            let named = ForAmendment {
                record_id: correction_id(*id),
                amendment_id: *id,
            };
            let correction = write_as(ctx, key, &patient, content, Some(named)).await?;
            Kind::AcceptAmendment(AcceptAmendment {
                amendment_id: *id,
                correction: Some(correction),
            })
        }
        TxCommand::DenyAmendment {
            amendment: id,
            reason,
            explanation,
        } => {
            let (a, patient, category) = amendment(ctx, *id).await?;
            let explanation = match explanation {
                Some(text) => {
                    let content = statement(&a.record_id, "denial_explanation", category, text)?;
                    let named = ForAmendment {
                        record_id: denial_id(*id),
                        amendment_id: *id,
                    };
                    Some(write_as(ctx, key, &patient, content, Some(named)).await?)
                }
                None => None,
            };
            Kind::DenyAmendment(DenyAmendment {
                amendment_id: *id,
                reason: (match reason {
                    DenialArg::AccurateAndComplete => DenialReason::AccurateAndComplete,
                    DenialArg::NotCreatedHere => DenialReason::NotCreatedHere,
                    DenialArg::NotInRecordSet => DenialReason::NotInRecordSet,
                    DenialArg::NotAvailableForInspection => DenialReason::NotAvailableForInspection,
                }) as i32,
                explanation,
            })
        }
        TxCommand::FileDisagreement {
            amendment: id,
            statement: text,
        } => {
            let (a, patient, category) = amendment(ctx, *id).await?;
            let content = statement(&a.record_id, "disagreement", category, text)?;
            let statement = write_as(ctx, key, &patient, content, None).await?;
            Kind::FileDisagreement(FileDisagreement {
                amendment_id: *id,
                statement: Some(statement),
            })
        }
        _ => return Ok(None),
    }))
}
