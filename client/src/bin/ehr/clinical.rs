//! Orders and prescriptions as a doctor writes them — the content sealed on
//! this machine, stored with the gateway, its hash anchored by the transaction
//! — and `ehr documents`, which reads them back decrypted and checked against
//! the chain.

use clap::Args;
use ehr_client::fhir;
use ehr_client::read_path::client::GatewayClient;
use ehr_client::read_path::documents::{self, Content};
use ehr_client::read_path::open::ChainVerifier;
use ehr_client::read_path::verified::check_document;
use ehr_client::rpc::proven::{ProvenState, DEFAULT_MAX_AGE};
use ehr_ledger::crypto::{Address, SecretKey};
use ehr_ledger::proto::RecordRef;

use crate::args::{now, CategoryArg};
use crate::{Ctx, Result};

/// Seals `content` (see `documents::write`), stores it with the gateway and
/// returns the reference to anchor.
pub async fn write(
    ctx: &Ctx,
    author: &SecretKey,
    patient: &Address,
    content: Content,
) -> Result<RecordRef> {
    write_as(ctx, author, patient, content, None).await
}

/// `write`, for the decider of an amendment when `named` is given.
pub async fn write_as(
    ctx: &Ctx,
    author: &SecretKey,
    patient: &Address,
    content: Content,
    named: Option<documents::ForAmendment>,
) -> Result<RecordRef> {
    let client = GatewayClient::new(&ctx.gateway, author.clone());
    let chain = ProvenState::connect(ctx.rpc.clone(), &ctx.trust_root()?, DEFAULT_MAX_AGE).await?;
    documents::write_as(
        &chain,
        &client,
        &author.public_key(),
        patient,
        content,
        now(),
        named,
    )
    .await
    .map_err(Into::into)
}

#[derive(Args)]
pub struct DocumentsArgs {
    /// The local key of the reader.
    #[arg(long = "as")]
    reader: String,
    #[arg(long)]
    patient: String,
    #[arg(long, value_enum, default_value = "medications")]
    category: CategoryArg,
    /// Print the verified documents as an HL7 FHIR R4 Bundle of
    /// MedicationRequests and ServiceRequests.
    #[arg(long)]
    fhir: bool,
}

/// Fetches the patient's documents of a category, decrypts each here and
/// checks it against its anchor on chain.
pub async fn read(ctx: &Ctx, a: &DocumentsArgs) -> Result<bool> {
    let key: SecretKey = ctx.keys.load(&a.reader)?;
    let patient = ctx.address(&a.patient)?;
    let client = GatewayClient::new(&ctx.gateway, key.clone());
    let category = super::category_path(a.category);
    let page = client.documents(&patient, category, None).await?;
    let (mut chain, _) = ChainVerifier::connect(ctx.rpc.clone(), &ctx.trust_root()?).await?;
    let mut checked = Vec::with_capacity(page.documents.len());
    for item in page.documents.clone() {
        checked.push(check_document(item, &key, &patient, &mut chain).await);
    }
    let all_ok = checked.iter().all(|c| c.problem().is_none());
    if a.fhir {
        // Of the patient's details, only the version anchored last is who they are.
        let current = checked
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                matches!(
                    c.verified().map(|d| &d.content),
                    Some(Content::Demographics(_))
                )
            })
            .max_by_key(|(_, c)| (c.anchored_at.clone().unwrap_or(0), c.item.seq))
            .map(|(i, _)| i);
        let resources = checked
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let doc = c.verified()?;
                match &doc.content {
                    Content::Demographics(_) if Some(i) != current => None,
                    Content::Demographics(d) => Some(fhir::people::patient(&patient, Some(d))),
                    _ => fhir::requests::request(
                        &c.item.record_id,
                        &c.item.author,
                        doc,
                        &patient,
                        &c.links,
                    ),
                }
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&fhir::collection(resources))?
        );
        return Ok(all_ok);
    }
    let mut out = Vec::new();
    for c in &checked {
        let item = &c.item;
        let problem = c.problem().cloned();
        if ctx.json {
            out.push(serde_json::json!({
                "record_id": item.record_id,
                "author": item.author,
                "verified": problem.is_none(),
                "document": c.document.as_ref().ok(),
                "anchored_at": c.anchored_at.as_ref().ok(),
                "superseded_by": Some(&c.links.superseded_by).filter(|s| !s.is_empty()),
                "amends": Some(&c.links.amends).filter(|s| !s.is_empty()),
                "amendment_id": Some(c.links.amendment_id).filter(|n| *n != 0),
                "problem": problem,
                "erased": c.erased.as_ref().map(ehr_client::read_path::verified::erased_sentence),
            }));
        } else {
            match (c.verified(), problem) {
                (None, None) if c.erased.is_some() => println!(
                    "ERASED  {}  {}",
                    item.record_id,
                    c.erased
                        .as_ref()
                        .map(ehr_client::read_path::verified::erased_sentence)
                        .unwrap_or_default()
                ),
                (Some(doc), _) => println!(
                    "verified  {}  {} (by {}){}",
                    item.record_id,
                    doc.content.describe(),
                    item.author,
                    c.links
                        .describe()
                        .map_or_else(String::new, |l| format!("  [{l}]"))
                ),
                (None, p) => println!(
                    "NOT VERIFIED  {}  {}",
                    item.record_id,
                    p.unwrap_or_default()
                ),
            }
        }
    }
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({ "basis": page.basis, "documents": out, "verified": all_ok })
        );
    } else {
        println!(
            "{} document(s), allowed by {}",
            page.documents.len(),
            page.basis
        );
    }
    Ok(all_ok)
}
