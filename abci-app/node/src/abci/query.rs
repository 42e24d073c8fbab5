//! Query: the ledger's paths (docs/ledger.md), with a Jellyfish Merkle proof
//! as a ProofOp of type "jmt:v1" when asked.

use tendermint_proto::v0_38::crypto::{ProofOp, ProofOps};

use super::proto::{RequestQuery, ResponseQuery};
use super::CODESPACE;
use ehr_ledger::ledger::query::{encode_proof, QueryCode};
use ehr_ledger::ledger::Ledger;

pub const PROOF_OP_TYPE: &str = "jmt:v1";

pub fn query(ledger: &Ledger, r: RequestQuery) -> ResponseQuery {
    let height = u64::try_from(r.height).unwrap_or(0);
    let a = ledger.query(&r.path, &r.data, height, r.prove);
    ResponseQuery {
        code: a.code as u32,
        log: a.log,
        key: a.key.clone().into(),
        value: a.value.into(),
        proof_ops: a.proof.map(|p| ProofOps {
            ops: vec![ProofOp {
                r#type: PROOF_OP_TYPE.into(),
                key: a.key,
                data: encode_proof(&p),
            }],
        }),
        height: a.height as i64,
        codespace: if a.code == QueryCode::Ok {
            String::new()
        } else {
            CODESPACE.into()
        },
        ..Default::default()
    }
}
