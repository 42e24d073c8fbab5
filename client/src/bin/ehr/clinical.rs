//! Orders and prescriptions as a doctor writes them — the content sealed on
//! this machine, stored with the gateway, its hash anchored by the transaction
//! — and `ehr documents`, which reads them back decrypted and checked against
//! the chain.

use clap::Args;
use ehr_client::read_path::client::GatewayClient;
use ehr_client::read_path::documents::{self, Content};
use ehr_client::read_path::open::ChainVerifier;
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
    let client = GatewayClient::new(&ctx.gateway, author.clone());
    let chain = ProvenState::connect(ctx.rpc.clone(), &ctx.trust_root()?, DEFAULT_MAX_AGE).await?;
    documents::write(
        &chain,
        &client,
        &author.public_key(),
        patient,
        content,
        now(),
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
    let mut all_ok = true;
    let mut out = Vec::new();
    for item in &page.documents {
        let opened = documents::open(item, &key, &patient).map_err(|e| e.to_string());
        let anchored = chain
            .verify_document(item, &patient)
            .await
            .map_err(|e| e.to_string());
        let problem = opened.as_ref().err().or(anchored.as_ref().err()).cloned();
        all_ok &= problem.is_none();
        if ctx.json {
            out.push(serde_json::json!({
                "record_id": item.record_id,
                "author": item.author,
                "verified": problem.is_none(),
                "document": opened.as_ref().ok(),
                "anchored_at": anchored.as_ref().ok(),
                "problem": problem,
            }));
        } else {
            match (&opened, problem) {
                (Ok(doc), None) => println!(
                    "verified  {}  {} (by {})",
                    item.record_id,
                    doc.content.describe(),
                    item.author
                ),
                (_, Some(p)) => println!("NOT VERIFIED  {}  {p}", item.record_id),
                (Err(_), None) => unreachable!("an unopened document has a problem"),
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
