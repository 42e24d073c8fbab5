//! Who may call, and for whom: each client certificate (by its common name)
//! may act for the clinicians the configuration lists. A caller allowed more
//! than one names the clinician of each request in `X-On-Behalf-Of` (a key
//! name or a ledger address); a caller allowed one need not.

use std::collections::HashMap;

use ehr_client::read_path::client::GatewayClient;
use ehr_ledger::crypto::SecretKey;

use crate::outcome::FhirError;

/// The request header that names the clinician a request is made for.
pub const ON_BEHALF_OF: &str = "x-on-behalf-of";

/// A clinician the service acts for: their key's local name and a gateway
/// client signing as them.
#[derive(Clone)]
pub struct Clinician {
    pub name: String,
    pub gateway: GatewayClient,
    pub key: SecretKey,
}

/// One `--caller` option: `<certificate common name>=<clinician>[,<clinician>…]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerRule {
    pub common_name: String,
    pub clinicians: Vec<String>,
}

impl std::str::FromStr for CallerRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (cn, list) = s.split_once('=').ok_or_else(|| {
            format!("{s:?}: write <certificate common name>=<clinician key>[,<clinician key>…]")
        })?;
        let clinicians: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        if cn.trim().is_empty() || clinicians.is_empty() {
            return Err(format!(
                "{s:?}: a certificate's common name and at least one clinician are needed"
            ));
        }
        Ok(CallerRule {
            common_name: cn.trim().to_string(),
            clinicians,
        })
    }
}

/// The callers and the clinicians each may act for.
pub struct Callers {
    by_certificate: HashMap<String, Vec<Clinician>>,
}

impl Callers {
    /// `load` gives a clinician's key by name (the service's keyring).
    pub fn new(
        rules: &[CallerRule],
        gateway_url: &str,
        transport: &ehr_transport::Transport,
        load: impl Fn(&str) -> Result<SecretKey, String>,
    ) -> Result<Callers, String> {
        let mut by_certificate: HashMap<String, Vec<Clinician>> = HashMap::new();
        for rule in rules {
            for name in &rule.clinicians {
                let key = load(name).map_err(|e| format!("clinician {name:?}: {e}"))?;
                by_certificate
                    .entry(rule.common_name.clone())
                    .or_default()
                    .push(Clinician {
                        name: name.clone(),
                        gateway: GatewayClient::using(gateway_url, key.clone(), transport),
                        key,
                    });
            }
        }
        Ok(Callers { by_certificate })
    }

    /// The clinician a request acts for: from the caller's certificate name
    /// and the `X-On-Behalf-Of` header.
    pub fn resolve(
        &self,
        certificate: Option<&str>,
        on_behalf_of: Option<&str>,
    ) -> Result<&Clinician, FhirError> {
        let cn = certificate.ok_or_else(|| {
            FhirError::unauthenticated(
                "this API knows its callers by their client certificate: connect with a certificate the hospital's authority issued",
            )
        })?;
        let allowed = self.by_certificate.get(cn).ok_or_else(|| {
            FhirError::forbidden(
                "unknown_caller",
                format!("the certificate {cn:?} may not act for any clinician here: ask the hospital to add it (ehr-fhir --caller)"),
            )
        })?;
        match on_behalf_of {
            None if allowed.len() == 1 => Ok(&allowed[0]),
            None => Err(FhirError::invalid(
                "on_behalf_of_missing",
                format!(
                    "the certificate {cn:?} acts for {} clinicians: name the one this request is for in the X-On-Behalf-Of header",
                    allowed.len()
                ),
            )),
            Some(who) => allowed
                .iter()
                .find(|c| c.name == who || c.key.address().to_string() == who)
                .ok_or_else(|| {
                    FhirError::forbidden(
                        "not_your_clinician",
                        format!("the certificate {cn:?} may not act for {who:?}"),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_rule_is_a_name_and_its_clinicians() {
        let r: CallerRule = "ward-dashboard=doctor, doctor2".parse().unwrap();
        assert_eq!(r.common_name, "ward-dashboard");
        assert_eq!(r.clinicians, ["doctor", "doctor2"]);
        for bad in ["doctor", "=doctor", "dash=", "dash= , "] {
            assert!(bad.parse::<CallerRule>().is_err(), "{bad}");
        }
    }
}
