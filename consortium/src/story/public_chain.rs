//! The consortium's state checkpointed on Ethereum (a `geth --dev` the run
//! started): three of the four hospitals each sign the app hash their own
//! light client checked, North writes the checkpoint, and a verifier who
//! trusts only Ethereum proves a patient's record through a node it does not
//! trust, and finds no rewritten history.

use ehr_client::ethereum::checkpoints::{self, Attestation, CheckpointContract};
use ehr_client::ethereum::watch::{Checkpointer, Did};
use ehr_client::ethereum::{EthAddress, EthClient};
use ehr_client::rpc::trust::Anchor;
use ehr_testkit::actions;

use super::*;

/// What each member's account is funded with from the dev chain's account.
const FUNDS_WEI: u128 = 1_000_000_000_000_000_000;

impl Teller {
    /// A checkpoint on Ethereum, and a record proven from it alone.
    pub fn public_chain(&mut self, c: &Cast, ethereum_url: &str) {
        println!("\nThe consortium's state checkpointed on Ethereum ({ethereum_url}, geth --dev)");
        let p1 = &c.patients[0];
        let record_id = format!("note-{}", hex::encode(&p1.address().0[..4]));
        let note = actions::record(&record_id, p1, Category::Notes);
        let Some(_) = self.act(
            "patient-1 anchors a note of hers",
            p1,
            actions::anchor(&record_id, p1, Category::Notes),
            Code::Ok,
        ) else {
            return;
        };
        let eth = EthClient::new(ethereum_url);
        let signers: Vec<(EthAddress, u64)> = c
            .admins
            .iter()
            .map(|k| (EthAddress::of(&k.public_key()), 1))
            .collect();
        let (general, north) = (&c.admins[0], &c.admins[1]);
        let trust = self.trust.clone();
        let rpc = self.rpc.clone();
        let chain_id = self.chain_id.clone();
        let written = self.runtime.block_on(async {
            // The three who run checkpointers below pay when it is their turn.
            for k in &c.admins[..3] {
                eth.fund_from_dev_account(&EthAddress::of(&k.public_key()), FUNDS_WEI)
                    .await?;
            }
            let (contract, deployed) =
                CheckpointContract::deploy(eth.clone(), general, &chain_id, &signers).await?;
            // The note's block is committed: the newest block holds it, or follows it.
            let height = rpc.latest_height().await?;
            let anchor = Anchor::connect(rpc.clone(), &trust).await?;
            let mut signed = Vec::new();
            for k in &c.admins[..3] {
                signed.push(Attestation::sign_verified(&anchor, k, height).await?);
            }
            let receipt = contract.submit(north, &signed).await?;
            Ok::<_, checkpoints::CheckpointError>((contract, deployed, receipt, height))
        });
        let contract = match written {
            Ok((contract, deployed, receipt, height)) => {
                self.record(
                    "General deploys the checkpoint contract, the four hospitals its signers",
                    "deployed",
                    format!("contract {} ({} gas)", contract.address, deployed.gas_used),
                    true,
                );
                self.record(
                    "three hospitals sign the app hash after the note's block, each checked by its own light client; North writes the checkpoint",
                    "written",
                    format!(
                        "checkpoint of height {height} in Ethereum block {} ({} gas)",
                        receipt.block_number, receipt.gas_used
                    ),
                    true,
                );
                contract
            }
            Err(e) => {
                self.record(
                    "a checkpoint on Ethereum",
                    "written",
                    format!("not written: {e}"),
                    false,
                );
                return;
            }
        };
        let verified = self.runtime.block_on(checkpoints::verify_record(
            &contract,
            &rpc,
            &record_id,
            Some(&note.ciphertext_sha256),
        ));
        // A dev chain finalizes every 32 blocks: the story reads the latest
        // state, where a verifier on mainnet reads the finalized one.
        let step = "a verifier who trusts only Ethereum (its latest state) proves the note through a node it does not trust";
        match verified {
            Ok(v) => self.record(
                step,
                "proven",
                format!(
                    "anchored in block {}, proven against the app hash checkpointed after block {}",
                    v.anchor.height, v.checkpoint.height
                ),
                true,
            ),
            Err(e) => self.record(step, "proven", format!("not proven: {e}"), false),
        }
        let audited = self
            .runtime
            .block_on(checkpoints::audit(&contract, &rpc, &[]));
        let (got, ok) = match audited {
            Ok(audit) if audit.findings.is_empty() => (
                format!(
                    "one app hash for each checkpointed height, and the node serves it ({} checkpoint(s) compared)",
                    audit.compared
                ),
                true,
            ),
            Ok(audit) => (
                audit
                    .findings
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
                false,
            ),
            Err(e) => (format!("not audited: {e}"), false),
        };
        self.record(
            "the node's history audited against Ethereum's checkpoints",
            "no rewritten history",
            got,
            ok,
        );
        self.automatic_checkpoints(c, &contract);
    }

    /// Three hospitals' checkpointers (what `ehr ethereum watch` runs) take
    /// turns until one writes the next multiple of `AUTO_EVERY` on its own.
    fn automatic_checkpoints(&mut self, c: &Cast, contract: &CheckpointContract) {
        let (rpc, trust) = (self.rpc.clone(), self.trust.clone());
        let names = ["General", "North", "South"];
        let watched = self.runtime.block_on(async {
            let before = contract.latest().await?.height;
            let mut watchers = Vec::new();
            for k in &c.admins[..3] {
                let anchor = Anchor::connect(rpc.clone(), &trust).await?;
                watchers.push(
                    Checkpointer::new(anchor, k.clone(), contract.clone(), AUTO_EVERY, AUTO_GRACE)
                        .await?,
                );
            }
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
            loop {
                let mut last_failure = String::new();
                for (i, w) in watchers.iter_mut().enumerate() {
                    // A step that fails is tried again, as `ehr ethereum
                    // watch` does: one member's trouble stops nobody.
                    match w.step().await {
                        Ok(did) => {
                            for d in did {
                                if let Did::Written { height, gas_used, .. } = d {
                                    return Ok((before, names[i], height, gas_used));
                                }
                            }
                        }
                        Err(e) => last_failure = format!("{}: {e}", names[i]),
                    }
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(checkpoints::CheckpointError::Malformed(format!(
                        "no checkpoint after {before} was written in 90 s (last failure: {last_failure})"
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        });
        let (got, ok) = match watched {
            Ok((before, who, height, gas)) => (
                format!(
                    "after the checkpoint of {before}, {who} wrote the one of height {height} ({gas} gas), attested on chain by three hospitals"
                ),
                height > before && height % AUTO_EVERY == 0,
            ),
            Err(e) => (format!("none written: {e}"), false),
        };
        self.record(
            &format!(
                "three hospitals' checkpointers sign every {AUTO_EVERY}th height, meet on chain, and the one whose turn it is writes it"
            ),
            "written",
            got,
            ok,
        );
    }
}

/// The interval of the story's automatic checkpoints, and how long each
/// member waits for the one before it (a dev chain mines every second).
const AUTO_EVERY: u64 = 10;
const AUTO_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
