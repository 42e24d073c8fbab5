//! The ledger's part of a CometBFT genesis (`app_state`): the founding member
//! organisations, their admin keys, the validators each operates, and the
//! code directory's first codes.

use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;
use crate::proto::{
    governance_change, AddCodes, AddMember, AddValidator, CodeEntry, GovernanceChange,
};
use crate::refusal::Refusal;
use crate::tx::validate_action;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub members: Vec<GenesisMember>,
    pub validators: Vec<GenesisValidator>,
    /// The code directory's first codes (a genesis without them hashes as
    /// before; `seed_codes()` is what `ehr-node genesis` writes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<GenesisCode>,
}

/// A code of the directory as a genesis lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisCode {
    /// "loinc", "icd10" or "snomed".
    pub system: String,
    pub code: String,
    pub display: String,
    /// A measurement's UCUM unit and plausible range.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Eq for GenesisCode {}

/// The directory the consortium starts with (`abci-app/core/codes/seed.json`,
/// docs/ledger.md "The code directory": what each code is and its licence).
pub fn seed_codes() -> Vec<GenesisCode> {
    serde_json::from_str(include_str!("../../codes/seed.json"))
        .expect("the seed directory is valid JSON (tested)")
}

impl GenesisCode {
    /// The entry a proposal would carry, or why this is none.
    pub fn entry(&self) -> Result<CodeEntry, GenesisError> {
        let system = super::codes::system_of(&self.system).ok_or_else(|| {
            GenesisError(format!(
                "code {}: system {:?} is not loinc, icd10 or snomed",
                self.code, self.system
            ))
        })?;
        Ok(CodeEntry {
            system: system as i32,
            code: self.code.clone(),
            display: self.display.clone(),
            unit: self.unit.clone(),
            min: self.min,
            max: self.max,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisMember {
    pub org_id: String,
    pub name: String,
    /// Hex of the 33-byte compressed secp256k1 key of the organisation's admin.
    pub admin_public_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Hex of the 32-byte ed25519 key (CometBFT's priv_validator_key.json).
    pub pub_key: String,
    pub power: i64,
    pub operator_org: String,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid genesis: {0}")]
pub struct GenesisError(pub String);

fn hex_field(what: &str, s: &str) -> Result<Vec<u8>, GenesisError> {
    hex::decode(s).map_err(|_| GenesisError(format!("{what} {s:?} is not hex")))
}

fn check(what: &str, change: governance_change::Kind) -> Result<(), GenesisError> {
    let action = crate::proto::action::Kind::Propose(crate::proto::Propose {
        change: Some(GovernanceChange { kind: Some(change) }),
    });
    validate_action(&action).map_err(|r: Refusal| GenesisError(format!("{what}: {}", r.message)))
}

/// A genesis checked field by field, with keys decoded.
pub struct CheckedGenesis {
    pub members: Vec<(GenesisMember, PublicKey)>,
    pub validators: Vec<(GenesisValidator, Vec<u8>)>,
    pub codes: Vec<CodeEntry>,
}

impl Genesis {
    pub fn from_json(json: &[u8]) -> Result<Self, GenesisError> {
        serde_json::from_slice(json)
            .map_err(|e| GenesisError(format!("app_state is not valid JSON for the ledger: {e}")))
    }

    pub fn check(&self) -> Result<CheckedGenesis, GenesisError> {
        if self.members.is_empty() {
            return Err(GenesisError(
                "at least one founding member is required".into(),
            ));
        }
        if self.validators.is_empty() {
            return Err(GenesisError("at least one validator is required".into()));
        }
        let mut members = Vec::new();
        for m in &self.members {
            let key_bytes = hex_field("admin_public_key", &m.admin_public_key)?;
            check(
                &format!("member {}", m.org_id),
                governance_change::Kind::AddMember(AddMember {
                    org_id: m.org_id.clone(),
                    name: m.name.clone(),
                    admin_public_key: key_bytes.clone(),
                }),
            )?;
            if members
                .iter()
                .any(|(o, _): &(GenesisMember, _)| o.org_id == m.org_id)
            {
                return Err(GenesisError(format!("member {} is listed twice", m.org_id)));
            }
            let key = PublicKey::from_bytes(&key_bytes)
                .ok_or_else(|| GenesisError("bad admin key".into()))?;
            if members.iter().any(|(_, k): &(_, PublicKey)| *k == key) {
                return Err(GenesisError(format!(
                    "member {} reuses another member's admin key",
                    m.org_id
                )));
            }
            members.push((m.clone(), key));
        }
        let mut validators = Vec::new();
        for v in &self.validators {
            let key = hex_field("validator pub_key", &v.pub_key)?;
            check(
                &format!("validator {}", v.pub_key),
                governance_change::Kind::AddValidator(AddValidator {
                    pub_key: key.clone(),
                    power: v.power,
                    operator_org: v.operator_org.clone(),
                }),
            )?;
            if !self.members.iter().any(|m| m.org_id == v.operator_org) {
                return Err(GenesisError(format!(
                    "validator {} is operated by {}, which is not a founding member",
                    v.pub_key, v.operator_org
                )));
            }
            if validators.iter().any(|(_, k): &(_, Vec<u8>)| *k == key) {
                return Err(GenesisError(format!(
                    "validator {} is listed twice",
                    v.pub_key
                )));
            }
            validators.push((v.clone(), key));
        }
        let mut codes: Vec<CodeEntry> = Vec::new();
        for c in &self.codes {
            let entry = c.entry()?;
            check(
                &format!("code {}", c.code),
                governance_change::Kind::AddCodes(AddCodes {
                    codes: vec![entry.clone()],
                }),
            )?;
            if codes
                .iter()
                .any(|o| o.system == entry.system && o.code == entry.code)
            {
                return Err(GenesisError(format!(
                    "code {} {} is listed twice",
                    c.system, c.code
                )));
            }
            codes.push(entry);
        }
        Ok(CheckedGenesis {
            members,
            validators,
            codes,
        })
    }
}

/// CometBFT's genesis.json, as far as the ledger reads and writes it: the
/// ledger's part is `app_state`; other fields are kept as they are.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CometGenesis {
    pub genesis_time: String,
    pub chain_id: String,
    #[serde(default = "one")]
    pub initial_height: serde_json::Value,
    #[serde(default)]
    pub app_state: serde_json::Value,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

fn one() -> serde_json::Value {
    serde_json::Value::String("1".into())
}

impl CometGenesis {
    pub fn read(path: &std::path::Path) -> Result<Self, GenesisError> {
        let text = std::fs::read(path)
            .map_err(|e| GenesisError(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_slice(&text)
            .map_err(|e| GenesisError(format!("{} is not a CometBFT genesis: {e}", path.display())))
    }

    pub fn ledger_genesis(&self) -> Result<Genesis, GenesisError> {
        serde_json::from_value(self.app_state.clone())
            .map_err(|e| GenesisError(format!("app_state is not the ledger's genesis: {e}")))
    }

    pub fn initial_height(&self) -> u64 {
        match &self.initial_height {
            serde_json::Value::String(s) => s.parse().unwrap_or(1),
            serde_json::Value::Number(n) => n.as_u64().unwrap_or(1),
            _ => 1,
        }
        .max(1)
    }

    pub fn genesis_unix_time(&self) -> Result<i64, GenesisError> {
        crate::time::parse_rfc3339(&self.genesis_time).ok_or_else(|| {
            GenesisError(format!(
                "genesis_time {:?} is not an RFC 3339 time",
                self.genesis_time
            ))
        })
    }
}
