//! `ehr-fhir`, the hospital's FHIR API, as a real process beside a stack:
//! mutual TLS with a certificate of the test authority, the stack's key
//! folder as the clinicians' keys, reading through the stack's gateway.

use super::*;

pub struct FhirProcess {
    proc: Proc,
    /// The API's base URL (`https://127.0.0.1:<port>/fhir`).
    pub base: String,
}

impl FhirProcess {
    /// Started beside `stack`, letting callers act as `--caller` says
    /// (`<certificate name>=<clinician key>[,…]`).
    pub fn start(stack: &Stack, callers: &[&str]) -> FhirProcess {
        let mut cmd = Command::new(binary("ehr-fhir"));
        cmd.args(["--listen", "127.0.0.1:0", "--node", &stack.node.url])
            .args(["--gateway", &stack.gateway.url])
            .args(stack.node.trust_args())
            .arg("--keys")
            .arg(stack.dir.path().join("ehr"))
            .args(service_tls("fhir"));
        for c in callers {
            cmd.args(["--caller", c]);
        }
        let mut proc = Proc::spawn("fhir", cmd, stack.dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let base = proc
            .announced("serving FHIR R4 at ", ANNOUNCE_WITHIN)
            .unwrap_or_else(|e| panic!("{e}"));
        FhirProcess { proc, base }
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }
}

/// A certificate of the test authority named `name`, and an HTTPS client
/// that shows it: a hospital system calling the API.
pub fn caller(name: &str) -> (ehr_transport::pki::IdentityFiles, reqwest::Client) {
    let pki = crate::pki::for_tests();
    let files = pki.issue(name).unwrap_or_else(|e| panic!("{e}"));
    let transport = ehr_transport::Transport::for_client(&ehr_transport::ClientTlsArgs {
        ca_file: Some(pki.ca_file.clone()),
        cert_file: Some(files.certificate.clone()),
        key_file: Some(files.key.clone()),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let http = transport.http(Duration::from_secs(60));
    (files, http)
}
