//! How a Kafka client of the project connects: SASL/SCRAM-SHA-512 over TLS
//! (the broker's certificate checked against the consortium's authority,
//! each service and each device gateway logging in as its own user), or, by
//! explicit choice, plaintext without a login. The settings are librdkafka's,
//! handed to whatever client the caller builds; a hospital's own broker
//! settings pass through `--kafka-config key=value`.

use std::path::{Path, PathBuf};

/// The SASL mechanism the project's brokers accept.
pub const SCRAM: &str = "SCRAM-SHA-512";

#[derive(clap::Args, Clone, Debug, Default)]
pub struct KafkaArgs {
    /// The Kafka user this process logs in as (SASL/SCRAM-SHA-512 over TLS).
    #[arg(long, env = "EHR_KAFKA_USER", requires = "kafka_password_file")]
    pub kafka_user: Option<String>,
    /// A file holding that user's password, readable by its owner only (never
    /// the command line, where every local user sees it).
    #[arg(
        long,
        env = "EHR_KAFKA_PASSWORD_FILE",
        value_name = "FILE",
        requires = "kafka_user"
    )]
    pub kafka_password_file: Option<PathBuf>,
    /// The authority the broker's certificate chains to (default: --ca-file).
    #[arg(long, value_name = "PEM")]
    pub kafka_ca_file: Option<PathBuf>,
    /// Reach Kafka in plaintext without logging in: for a look on one machine.
    /// Readings would cross the network, and sit on the broker, readable by anyone on the path.
    #[arg(long, conflicts_with = "kafka_user")]
    pub kafka_insecure_plaintext: bool,
    /// A librdkafka setting for the hospital's own broker, `key=value` (repeat);
    /// applied after the project's own.
    #[arg(long = "kafka-config", value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub kafka_config: Vec<(String, String)>,
}

/// Why Kafka's security could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSecurityError {
    #[error(
        "Kafka: give --kafka-user and --kafka-password-file (SASL/SCRAM over TLS), \
         or --kafka-insecure-plaintext for a look on one machine"
    )]
    NoLogin,
    #[error("Kafka over TLS needs the authority of the broker's certificate: give --kafka-ca-file or --ca-file")]
    NoAuthority,
    #[error("cannot read the Kafka password file {path}: {reason}")]
    Password { path: PathBuf, reason: String },
    #[error("the Kafka password file {0} may be read by others: chmod 600 it")]
    PasswordExposed(PathBuf),
}

/// librdkafka settings, in the order they apply.
#[derive(Clone, Default)]
pub struct KafkaSecurity {
    settings: Vec<(String, String)>,
    encrypted: bool,
}

impl std::fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("KafkaSecurity")
            .field("encrypted", &self.encrypted)
            .finish()
    }
}

impl KafkaSecurity {
    /// Plaintext, no login (a baseline, or `--kafka-insecure-plaintext`).
    pub fn plaintext() -> KafkaSecurity {
        KafkaSecurity {
            settings: vec![("security.protocol".into(), "plaintext".into())],
            encrypted: false,
        }
    }

    /// SASL/SCRAM over TLS as `user`.
    pub fn scram(user: &str, password: &str, ca_file: &Path) -> KafkaSecurity {
        let settings = [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanisms", SCRAM),
            ("sasl.username", user),
            ("sasl.password", password),
            ("ssl.ca.location", &ca_file.display().to_string()),
            ("ssl.endpoint.identification.algorithm", "https"),
        ];
        KafkaSecurity {
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            encrypted: true,
        }
    }

    /// Configures a client of `brokers`: `set` is its configuration's setter
    /// (librdkafka's names), called for every setting in order.
    pub fn configure(&self, brokers: &str, mut set: impl FnMut(&str, &str)) {
        set("bootstrap.servers", brokers);
        for (key, value) in self.settings() {
            set(key, value);
        }
    }

    /// The settings to put on a client's configuration, in order.
    pub fn settings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.settings.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn encrypted(&self) -> bool {
        self.encrypted
    }
}

impl KafkaArgs {
    /// The settings these options ask for; `ca_file` is the process's
    /// `--ca-file`, the broker's authority unless `--kafka-ca-file` names another.
    pub fn security(&self, ca_file: Option<&Path>) -> Result<KafkaSecurity, KafkaSecurityError> {
        let mut security = match (&self.kafka_user, &self.kafka_password_file) {
            (Some(user), Some(file)) => {
                let ca = self
                    .kafka_ca_file
                    .as_deref()
                    .or(ca_file)
                    .ok_or(KafkaSecurityError::NoAuthority)?;
                KafkaSecurity::scram(user, &read_password(file)?, ca)
            }
            _ if self.kafka_insecure_plaintext => KafkaSecurity::plaintext(),
            _ => return Err(KafkaSecurityError::NoLogin),
        };
        security.settings.extend(self.kafka_config.iter().cloned());
        Ok(security)
    }
}

fn read_password(path: &Path) -> Result<String, KafkaSecurityError> {
    use std::os::unix::fs::MetadataExt;
    let unreadable = |e: std::io::Error| KafkaSecurityError::Password {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if std::fs::metadata(path).map_err(unreadable)?.mode() & 0o077 != 0 {
        return Err(KafkaSecurityError::PasswordExposed(path.to_path_buf()));
    }
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(KafkaSecurityError::Password {
            path: path.to_path_buf(),
            reason: "it is empty".into(),
        });
    }
    Ok(password)
}

/// `key=value`; a password never: it would sit in the process list.
fn parse_setting(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not key=value"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("{text:?} names no setting"));
    }
    if ["password", "secret", ".pem", "jaas", "oauthbearer.config"]
        .iter()
        .any(|s| key.contains(s))
    {
        return Err(format!(
            "{key} does not go on the command line, where every local user sees it: \
             use --kafka-password-file (or a file librdkafka reads)"
        ));
    }
    // What the project's own options set, a pass-through may not undo.
    const OWN: [&str; 6] = [
        "security.protocol",
        "sasl.username",
        "ssl.ca.location",
        "enable.ssl.certificate.verification",
        "ssl.endpoint.identification.algorithm",
        "bootstrap.servers",
    ];
    if OWN.contains(&key) {
        return Err(format!(
            "{key} is set by the service itself (--brokers, --kafka-user, --kafka-ca-file, \
             --kafka-insecure-plaintext): a pass-through may not weaken the broker's TLS or login"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_malformed_settings_are_refused_on_the_command_line() {
        assert!(parse_setting("sasl.password=x")
            .unwrap_err()
            .contains("--kafka-password-file"));
        assert!(parse_setting("ssl.key.password=x").is_err());
        assert!(parse_setting("sasl.oauthbearer.client.secret=x").is_err());
        for weakening in [
            "security.protocol=sasl_plaintext",
            "enable.ssl.certificate.verification=false",
            "ssl.endpoint.identification.algorithm=none",
        ] {
            assert!(parse_setting(weakening)
                .unwrap_err()
                .contains("may not weaken"));
        }
        assert!(parse_setting("novalue").unwrap_err().contains("key=value"));
        assert_eq!(
            parse_setting("client.rack=ward-3").unwrap(),
            ("client.rack".into(), "ward-3".into())
        );
    }

    #[test]
    fn no_login_and_no_plaintext_is_an_error_and_a_readable_password_file_is_refused() {
        assert!(matches!(
            KafkaArgs::default().security(None),
            Err(KafkaSecurityError::NoLogin)
        ));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kafka.password");
        std::fs::write(&file, "secret\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let args = KafkaArgs {
            kafka_user: Some("ingest".into()),
            kafka_password_file: Some(file.clone()),
            ..Default::default()
        };
        let ca = dir.path().join("ca.pem");
        assert!(matches!(
            args.security(Some(&ca)),
            Err(KafkaSecurityError::PasswordExposed(_))
        ));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let security = args.security(Some(&ca)).unwrap();
        assert!(security.encrypted());
        assert!(security
            .settings()
            .any(|(k, v)| k == "sasl.password" && v == "secret"));
        assert!(!format!("{security:?}").contains("secret"));
        assert!(matches!(
            KafkaArgs {
                kafka_ca_file: None,
                ..args
            }
            .security(None),
            Err(KafkaSecurityError::NoAuthority)
        ));
    }
}
