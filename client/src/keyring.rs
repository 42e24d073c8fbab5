//! Local key files of the `ehr` CLI and the main job: <home>/keys/<name>.json,
//! readable by the owner only (0600). The secret key is never printed.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ehr_ledger::crypto::SecretKey;

use crate::service::{read_key_file, KeyFileError};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct KeyFile {
    name: String,
    address: String,
    public_key: String,
    secret_key: String,
}

pub struct Keyring {
    dir: PathBuf,
}

/// Why a local key cannot be saved or loaded, in a sentence that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("key name {0:?} must be 1..=64 characters of [A-Za-z0-9-_.@]")]
    BadName(String),
    #[error("a key named {name} already exists ({})", path.display())]
    Exists { name: String, path: PathBuf },
    #[error("no key named {name} in {} (see `ehr keys list`)", dir.display())]
    Missing { name: String, dir: PathBuf },
    #[error("{} is readable by others; run chmod 600 on it", .0.display())]
    Exposed(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
}

fn valid_name(name: &str) -> Result<(), KeyringError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
        || name.starts_with('.')
    {
        return Err(KeyringError::BadName(name.into()));
    }
    Ok(())
}

impl Keyring {
    pub fn new(home: &Path) -> Self {
        Self {
            dir: home.join("keys"),
        }
    }

    /// Where the key named `name` is (or would be) kept.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    pub fn save(&self, name: &str, key: &SecretKey) -> Result<(), KeyringError> {
        valid_name(name)?;
        std::fs::create_dir_all(&self.dir).map_err(|source| KeyringError::Write {
            path: self.dir.clone(),
            source,
        })?;
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        let path = self.path(name);
        if path.exists() {
            return Err(KeyringError::Exists {
                name: name.into(),
                path,
            });
        }
        let file = KeyFile {
            name: name.into(),
            address: key.address().to_string(),
            public_key: hex::encode(key.public_key().to_bytes()),
            secret_key: hex::encode(key.to_bytes()),
        };
        // A struct of strings always serialises.
        let json = serde_json::to_string_pretty(&file).unwrap_or_default();
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(json.as_bytes()))
            .map_err(|source| KeyringError::Write { path, source })
    }

    pub fn load(&self, name: &str) -> Result<SecretKey, KeyringError> {
        valid_name(name)?;
        let path = self.path(name);
        if !path.exists() {
            return Err(KeyringError::Missing {
                name: name.into(),
                dir: self.dir.clone(),
            });
        }
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o077)
            .unwrap_or(0);
        if mode != 0 {
            return Err(KeyringError::Exposed(path));
        }
        Ok(read_key_file(&path)?)
    }

    /// (name, address, public key hex) of every key, by name; files that are
    /// not key files are left out.
    pub fn list(&self) -> Vec<(String, String, String)> {
        let mut out = vec![];
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Ok(file) = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str::<KeyFile>(&t).map_err(|e| e.to_string()))
                {
                    out.push((file.name, file.address, file.public_key));
                }
            }
        }
        out.sort();
        out
    }
}
