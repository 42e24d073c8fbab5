//! `ehr verify-archive`: a day of readings archived out of PostgreSQL
//! (`ehr-archive`) proven line by line against the chain — each record's
//! ciphertext against its leaf, its leaf and path against the root its batch
//! anchored on chain — and the file against the SHA-256 kept for it.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use anyhow::anyhow;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use clap::Args;
use ehr_client::read_path::api::ArchivedRecord;
use ehr_client::read_path::open::ChainVerifier;
use sha2::{Digest, Sha256};

use crate::{Ctx, Result};

#[derive(Args)]
pub struct VerifyArchiveArgs {
    /// An archive's file (`records-<day>.jsonl`).
    file: PathBuf,
    /// The file's SHA-256 (hex) as `ingest.record_days.archive_sha256` keeps it:
    /// without it, only what each record's leaf covers (its ciphertext) is
    /// proven, not the fields beside it (patient, ids, times).
    #[arg(long)]
    sha256: Option<String>,
}

/// True when the file is the one named and every line proves.
pub async fn verify_archive(ctx: &Ctx, a: &VerifyArchiveArgs) -> Result<bool> {
    let file = std::fs::File::open(&a.file).map_err(|e| anyhow!("{}: {e}", a.file.display()))?;
    let mut hashed = Hashing {
        inner: file,
        sha: Sha256::new(),
    };
    let (mut chain, trust) = ChainVerifier::connect(ctx.rpc.clone(), &ctx.trust_root()?).await?;
    let (mut proven, mut failed) = (0u64, 0u64);
    for (n, line) in (1u64..).zip(BufReader::new(&mut hashed).lines()) {
        let line = line.map_err(|e| anyhow!("{}: {e}", a.file.display()))?;
        let problem = match serde_json::from_str::<ArchivedRecord>(&line) {
            Err(e) => Some(format!("line {n} is not an archived record: {e}")),
            Ok(rec) => {
                let r = &rec.record;
                // Only an erased record comes without its ciphertext.
                let leaf_holds = (r.ciphertext.is_empty() && r.erasure_id.is_some())
                    || B64
                        .decode(&r.ciphertext)
                        .is_ok_and(|c| hex::encode(Sha256::digest(c)) == r.ciphertext_sha256);
                if !leaf_holds {
                    Some(format!(
                        "{} (line {n}): its ciphertext's SHA-256 is not its leaf",
                        r.record_id
                    ))
                } else {
                    match chain.verify_anchor(r).await {
                        Ok(_) => None,
                        Err(e) => Some(format!("{} (line {n}): {e}", r.record_id)),
                    }
                }
            }
        };
        match problem {
            None => proven += 1,
            Some(p) => {
                failed += 1;
                println!("NOT VERIFIED {p}");
            }
        }
    }
    let sha = hex::encode(hashed.sha.finalize());
    let file_holds = a
        .sha256
        .as_ref()
        .is_none_or(|want| want.eq_ignore_ascii_case(&sha));
    println!(
        "{proven} record(s) proven against the chain, {failed} not; file sha256 {sha}{}",
        match (&a.sha256, file_holds) {
            (None, _) => " (no --sha256: what the leaves do not cover — patient, ids, times — is not checked)",
            (Some(_), true) => " (as kept)",
            (Some(_), false) => " — NOT the SHA-256 kept for it",
        }
    );
    println!("checks: {trust}");
    Ok(failed == 0 && file_holds)
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    sha: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}
