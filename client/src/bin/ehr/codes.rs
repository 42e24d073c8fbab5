//! `ehr codes`: the consortium's code directory, for anyone (no key needed),
//! every answer proven against the headers the validators signed.

use anyhow::anyhow;
use clap::{Subcommand, ValueEnum};
use ehr_client::codes;
use ehr_client::rpc::proven::{ProvenState, DEFAULT_MAX_AGE};
use ehr_ledger::proto::CodeSystem;

use crate::{Ctx, Result};

#[derive(Clone, Copy, ValueEnum)]
pub enum SystemArg {
    /// LOINC: measurements and tests.
    Loinc,
    /// ICD-10-CM: diagnoses.
    Icd10,
    /// SNOMED CT: symptoms.
    Snomed,
}

impl SystemArg {
    pub fn system(self) -> CodeSystem {
        match self {
            SystemArg::Loinc => CodeSystem::Loinc,
            SystemArg::Icd10 => CodeSystem::Icd10,
            SystemArg::Snomed => CodeSystem::Snomed,
        }
    }
}

#[derive(Subcommand)]
pub enum CodesCommand {
    /// Codes whose code or display holds TEXT, in every system unless
    /// --system; each proven.
    Search {
        text: String,
        #[arg(long, value_enum)]
        system: Option<SystemArg>,
        /// Retired codes too.
        #[arg(long)]
        retired: bool,
    },
    /// One code, proven present or absent.
    Show {
        #[arg(value_enum)]
        system: SystemArg,
        code: String,
    },
}

/// True when something was found.
pub async fn codes(ctx: &Ctx, c: &CodesCommand) -> Result<bool> {
    let chain = ProvenState::connect(ctx.rpc.clone(), &ctx.trust_root()?, DEFAULT_MAX_AGE).await?;
    match c {
        CodesCommand::Show { system, code } => {
            match codes::show(&chain, system.system(), code).await? {
                Some(concept) => {
                    println!("{}", codes::describe(&concept));
                    Ok(true)
                }
                None => Err(anyhow!(
                    "the directory has no {} code {code:?} (proven absent)",
                    ehr_ledger::ledger::codes::slug(system.system())
                )),
            }
        }
        CodesCommand::Search {
            text,
            system,
            retired,
        } => {
            let systems = match system {
                Some(s) => vec![s.system()],
                None => vec![CodeSystem::Loinc, CodeSystem::Icd10, CodeSystem::Snomed],
            };
            let mut found = 0usize;
            for s in systems {
                for concept in codes::search(&chain, s, text, *retired).await? {
                    println!("{}", codes::describe(&concept));
                    found += 1;
                }
            }
            eprintln!(
                "{found} code(s), each proven; a node could still leave a code out of a search — `ehr codes show` proves one by name"
            );
            Ok(found > 0)
        }
    }
}
