//! `ehr tx`: sealing an order's or prescription's content, signing,
//! sending, and saying what the chain answered.

mod action;
mod amendments;
mod command;
mod rotate;

pub(crate) use action::action;
pub(crate) use command::*;
use rotate::rotate;

use anyhow::anyhow;
use ehr_client::rpc::BroadcastTxCommit;
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::*;
use ehr_ledger::tx::sign_tx;
use ehr_ledger::Code;

use crate::args::*;
use crate::{clinical, Ctx, Result};

/// The clinical content of an order or prescription, sealed and stored with
/// the gateway before the transaction that anchors it; `None` for the others.
pub(crate) async fn document(
    ctx: &Ctx,
    author: &SecretKey,
    a: &TxCommand,
) -> Result<Option<RecordRef>> {
    use ehr_client::read_path::documents::Content;
    if let TxCommand::Demographics {
        patient,
        given,
        family,
        birth_date,
        gender,
        mrns,
    } = a
    {
        let demographics = demographics(given, family, birth_date, gender, mrns)?;
        let patient = ctx.address(patient)?;
        let content = Content::Demographics(demographics);
        return clinical::write(ctx, author, &patient, content)
            .await
            .map(Some);
    }
    let (patient, stored, category) = match a {
        TxCommand::OrderLab {
            patient, stored, ..
        } => (patient, stored, CategoryArg::Labs),
        TxCommand::Prescribe {
            patient, stored, ..
        } => (patient, stored, CategoryArg::Medications),
        _ => return Ok(None),
    };
    if let Some(id) = &stored.stored_id {
        let described = match a {
            TxCommand::OrderLab { test, .. } => test.is_some(),
            TxCommand::Prescribe { drug, .. } => drug.is_some(),
            _ => false,
        };
        if described {
            return Err(anyhow!(
                "give the content (--test, --drug …) or where it is stored (--stored-*), not both"
            ));
        }
        let r = RecordArgs {
            record_id: id.clone(),
            patient: patient.clone(),
            category,
            sha256: stored.stored_sha256.clone().unwrap_or_default(),
            size: stored.stored_size.unwrap_or_default(),
            locator: stored.stored_locator.clone().unwrap_or_default(),
        };
        return record(ctx, &r).map(Some);
    }
    let content = match a {
        TxCommand::OrderLab {
            test: Some(test),
            lab,
            ..
        } => {
            ehr_ledger::tx::validate::loinc("test", test).map_err(|r| anyhow!(r.message))?;
            ordered_test_is_in_the_directory(ctx, test).await?;
            Content::LabOrder {
                test_code: test.clone(),
                lab_org: lab.clone(),
            }
        }
        TxCommand::Prescribe {
            drug: Some(drug),
            dose: Some(dose),
            unit: Some(unit),
            quantity: Some(quantity),
            refills,
            ..
        } => {
            if drug.is_empty() || drug.len() > 10 || !drug.chars().all(|c| c.is_ascii_digit()) {
                return Err(anyhow!(
                    "--drug {drug:?} is not an RxNorm code (1 to 10 digits)"
                ));
            }
            if milli(dose)? == 0 {
                return Err(anyhow!("--dose must be positive"));
            }
            if *quantity == 0 {
                return Err(anyhow!("--quantity must be positive"));
            }
            Content::Prescription {
                drug_code: drug.clone(),
                dose: dose.clone(),
                unit: unit.clone(),
                quantity: *quantity,
                refills: *refills,
            }
        }
        _ => {
            return Err(anyhow!(
                "say what is ordered or prescribed, or where it is stored (--stored-*)"
            ))
        }
    };
    let patient = ctx.address(patient)?;
    clinical::write(ctx, author, &patient, content)
        .await
        .map(Some)
}

/// The test a doctor orders must be in the consortium's code directory and
/// not retired, proven from the chain: the order itself is encrypted, so
/// the ledger never sees the code, and the ordering client is where the
/// directory's rule is kept.
async fn ordered_test_is_in_the_directory(ctx: &Ctx, test: &str) -> Result<()> {
    use ehr_client::rpc::proven::{ProvenState, DEFAULT_MAX_AGE};
    let chain = ProvenState::connect(ctx.rpc.clone(), &ctx.trust_root()?, DEFAULT_MAX_AGE).await?;
    match ehr_client::codes::show(&chain, CodeSystem::Loinc, test).await? {
        None => Err(anyhow!(
            "LOINC {test} is not in the consortium's code directory (proven absent): find the test with `ehr codes search <name> --system loinc`, or have the consortium add it"
        )),
        Some(c) => match ehr_ledger::ledger::codes::retirement(&c) {
            Some(why) => Err(anyhow!("{why}: order the test by a code in use")),
            None => Ok(()),
        },
    }
}

/// Demographics from the command line, or why they cannot be sealed.
fn demographics(
    given: &[String],
    family: &str,
    birth_date: &Option<String>,
    gender: &Option<String>,
    mrns: &[String],
) -> Result<ehr_client::read_path::demographics::Demographics> {
    use ehr_client::read_path::demographics::{Demographics, Mrn};
    let mrns = mrns
        .iter()
        .map(|m| {
            m.split_once('=')
                .map(|(org, value)| Mrn {
                    organisation: org.trim().to_string(),
                    value: value.trim().to_string(),
                })
                .ok_or_else(|| {
                    anyhow!("--mrn {m:?}: write <organisation>=<number>, such as general=G-00042")
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let d = Demographics {
        given: given.to_vec(),
        family: family.to_string(),
        birth_date: birth_date.clone(),
        gender: gender.clone(),
        mrns,
    };
    match d.problem() {
        Some(p) => Err(anyhow!("{p}")),
        None => Ok(d),
    }
}

/// "33 (WrongRole)", as the ledger's `Code` displays itself.
pub(crate) fn code_label(code: u32) -> String {
    Code::from_u32(code).map_or_else(|| format!("{code} (unknown)"), |c| c.to_string())
}

pub(crate) fn describe_result(r: &BroadcastTxCommit) -> String {
    let result = if r.check_tx.code != 0 {
        &r.check_tx
    } else {
        &r.tx_result
    };
    if result.code != 0 {
        let stage = if r.check_tx.code != 0 {
            "refused by the node's check"
        } else {
            "refused in its block"
        };
        return format!("{stage}: code {}: {}", code_label(result.code), result.log);
    }
    let ids: Vec<String> = result
        .events
        .iter()
        .filter(|e| e.kind != "tx")
        .flat_map(|e| {
            e.attributes
                .iter()
                .filter(|a| a.key.ends_with("id"))
                .map(|a| format!("{}={}", a.key, a.value))
        })
        .collect();
    let extra = if ids.is_empty() {
        String::new()
    } else {
        format!(" ({})", ids.join(", "))
    };
    format!("accepted in block {} (tx {}){extra}", r.height, r.hash)
}

pub(crate) async fn send(ctx: &Ctx, from: &str, no_wait: bool, a: &TxCommand) -> Result<bool> {
    let key: SecretKey = ctx.keys.load(from)?;
    if let Some(kind) = amendments::action(ctx, &key, a).await? {
        return submit(ctx, &key, no_wait, kind).await;
    }
    if let TxCommand::RotateKey {
        new,
        participant,
        key: new_key,
        proof,
    } = a
    {
        return rotate(
            ctx,
            &key,
            new.as_deref(),
            participant.as_deref(),
            new_key.as_deref().zip(proof.as_deref()),
        )
        .await;
    }
    let document = document(ctx, &key, a).await?;
    let kind = action(ctx, a, document)?;
    submit(ctx, &key, no_wait, kind).await
}

/// Signs `kind` with `key`, sends it and says what the chain answered.
pub(crate) async fn submit(
    ctx: &Ctx,
    key: &SecretKey,
    no_wait: bool,
    kind: ehr_ledger::proto::action::Kind,
) -> Result<bool> {
    let status = ctx.rpc.status().await?;
    let nonce = ctx.rpc.next_nonce(&key.address()).await?;
    let tx = sign_tx(key, &status.node_info.network, nonce, kind);
    if no_wait {
        let r = ctx.rpc.broadcast_tx_sync(&tx).await?;
        if ctx.json {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        } else if r.code == 0 {
            println!("accepted into the mempool (tx {})", r.hash);
        } else {
            println!(
                "refused by the node's check: code {}: {}",
                code_label(r.code),
                r.log
            );
        }
        return Ok(r.code == 0);
    }
    let r = ctx.rpc.broadcast_tx_commit(&tx).await?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        println!("{}", describe_result(&r));
    }
    Ok(r.check_tx.code == 0 && r.tx_result.code == 0)
}
