//! `ehr query`: the chain's state by its query paths, as sentences or JSON.

use anyhow::anyhow;
use clap::Subcommand;
use ehr_ledger::ledger::query::Paged;
use ehr_ledger::proto::*;
use prost::Message;

use crate::args::*;
use crate::{read, Ctx, Result};

#[derive(Subcommand)]
pub(crate) enum QueryCommand {
    Account {
        address: String,
    },
    Participant {
        address: String,
    },
    Organisations,
    Organisation {
        org: String,
    },
    Staff {
        org: String,
    },
    Devices {
        patient: String,
    },
    Device {
        id: String,
    },
    Grants {
        patient: String,
    },
    /// May ACCESSOR read (or --write) CATEGORY of PATIENT's records now?
    Access {
        patient: String,
        accessor: String,
        #[arg(value_enum)]
        category: CategoryArg,
        #[arg(long)]
        write: bool,
    },
    Orders {
        patient: String,
    },
    /// A patient's requests to amend records and what became of them.
    Amendments {
        patient: String,
    },
    Amendment {
        id: u64,
    },
    /// Whom a rotated or recovered key signs for; whom a patient may be
    /// recovered by.
    Key {
        address: String,
    },
    Recovery {
        patient: String,
    },
    Order {
        id: u64,
    },
    Prescriptions {
        patient: String,
    },
    Prescription {
        id: u64,
    },
    /// Every disclosure of PATIENT's data and every emergency access.
    Audit {
        patient: String,
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
    Record {
        id: String,
    },
    Batch {
        service: String,
        id: u64,
    },
    Proposals,
    Proposal {
        id: u64,
    },
    Validators,
    /// A transaction's result by its hash.
    Tx {
        hash: String,
    },
}

pub(crate) async fn show<M: Message + Default + serde::Serialize>(
    ctx: &Ctx,
    path: &str,
) -> Result<bool> {
    match ctx.rpc.query::<M>(path).await? {
        Some(m) => {
            let json = if ctx.json {
                serde_json::to_string(&m)
            } else {
                serde_json::to_string_pretty(&m)
            };
            println!("{}", json?);
            Ok(true)
        }
        None => {
            eprintln!("nothing found at {path}");
            Ok(false)
        }
    }
}

/// Every page of a list path, printed as one list.
async fn show_all<L: Paged + serde::Serialize>(ctx: &Ctx, path: &str) -> Result<bool> {
    let items = ctx.rpc.query_all::<L>(path).await?;
    let all = L::page(items, String::new());
    let json = if ctx.json {
        serde_json::to_string(&all)
    } else {
        serde_json::to_string_pretty(&all)
    };
    println!("{}", json?);
    Ok(true)
}

pub(crate) async fn query(ctx: &Ctx, q: &QueryCommand) -> Result<bool> {
    use QueryCommand as Q;
    match q {
        Q::Account { address } => {
            show::<Account>(ctx, &format!("/account/{}", ctx.address(address)?)).await
        }
        Q::Participant { address } => {
            show::<Participant>(ctx, &format!("/participant/{}", ctx.address(address)?)).await
        }
        Q::Organisations => show_all::<OrganisationList>(ctx, "/organisations").await,
        Q::Organisation { org } => show::<Organisation>(ctx, &format!("/organisation/{org}")).await,
        Q::Staff { org } => show_all::<ParticipantList>(ctx, &format!("/staff/{org}")).await,
        Q::Devices { patient } => {
            show_all::<DeviceList>(ctx, &format!("/devices/{}", ctx.address(patient)?)).await
        }
        Q::Device { id } => show::<Device>(ctx, &format!("/device/{id}")).await,
        Q::Grants { patient } => {
            show_all::<GrantList>(ctx, &format!("/grants/{}", ctx.address(patient)?)).await
        }
        Q::Access {
            patient,
            accessor,
            category,
            write,
        } => {
            let path = format!(
                "/access/{}/{}/{}/{}",
                ctx.address(patient)?,
                ctx.address(accessor)?,
                category_path(*category),
                if *write { "write" } else { "read" }
            );
            let d: AccessDecision = ctx.rpc.query(&path).await?.unwrap_or_default();
            if ctx.json {
                println!("{}", serde_json::to_string(&d)?);
            } else if d.allowed {
                let basis = AccessBasis::try_from(d.basis).map_or("?", |b| b.as_str_name());
                let until = if d.until > 0 {
                    format!(" until {}", ehr_ledger::time::rfc3339(d.until))
                } else {
                    String::new()
                };
                println!("allowed ({basis}){until}");
            } else {
                println!("not allowed: {}", d.reason);
            }
            Ok(d.allowed)
        }
        Q::Orders { patient } => {
            show_all::<LabOrderList>(ctx, &format!("/orders/{}", ctx.address(patient)?)).await
        }
        Q::Order { id } => show::<LabOrder>(ctx, &format!("/order/{id}")).await,
        Q::Amendments { patient } => {
            show_all::<AmendmentList>(ctx, &format!("/amendments/{}", ctx.address(patient)?)).await
        }
        Q::Amendment { id } => show::<Amendment>(ctx, &format!("/amendment/{id}")).await,
        Q::Key { address } => {
            show::<KeyBinding>(ctx, &format!("/key/{}", ctx.address(address)?)).await
        }
        Q::Recovery { patient } => {
            show::<RecoveryPolicy>(ctx, &format!("/recovery/{}", ctx.address(patient)?)).await
        }
        Q::Prescriptions { patient } => {
            show_all::<PrescriptionList>(ctx, &format!("/prescriptions/{}", ctx.address(patient)?))
                .await
        }
        Q::Prescription { id } => show::<Prescription>(ctx, &format!("/prescription/{id}")).await,
        Q::Audit { patient, from } => {
            read::audit(
                ctx,
                &read::AuditArgs {
                    patient: patient.clone(),
                    from: *from,
                    fhir: false,
                },
            )
            .await
        }
        Q::Record { id } => show::<StoredRecordAnchor>(ctx, &format!("/record/{id}")).await,
        Q::Batch { service, id } => {
            show::<StoredBatchAnchor>(ctx, &format!("/batch/{}/{id}", ctx.address(service)?)).await
        }
        Q::Proposals => show_all::<ProposalList>(ctx, "/proposals").await,
        Q::Proposal { id } => show::<Proposal>(ctx, &format!("/proposal/{id}")).await,
        Q::Validators => show_all::<ValidatorList>(ctx, "/validators").await,
        Q::Tx { hash } => {
            let bytes: [u8; 32] = hex::decode(hash)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| anyhow!("the hash must be 64 hex digits"))?;
            let info = ctx.rpc.tx(&bytes).await?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(info.tx_result.code == 0)
        }
    }
}
