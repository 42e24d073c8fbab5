//! schemathesis (from PyPI, installed by scripts/setup.sh into
//! target/engines/py) generates requests from docs/gateway.openapi.yaml and
//! sends them, signed by the doctor's key, to a gateway on a stack of real
//! processes: no answer may be a server error, every answer must match the
//! description. A bounded run here (25 examples per operation); a longer one
//! is `EHR_API_FUZZ_EXAMPLES=500` (docs/security.md).

use std::process::Command;

use ehr_testkit::stack::*;

#[test]
fn the_http_api_holds_to_its_description_under_schemathesis() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("target/engines/py/bin/python");
    assert!(
        python.exists(),
        "schemathesis is not installed at {}: run scripts/setup.sh",
        python.display()
    );
    let s = Stack::start();
    s.alice_heart_rates(3);
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("gateway/tests/api_fuzz"))
        .env("EHR_GATEWAY_URL", &s.gateway.url)
        // requests (under schemathesis) checks the gateway's certificate.
        .env("REQUESTS_CA_BUNDLE", &ehr_testkit::pki::for_tests().ca_file)
        .env("EHR_CALLER_KEY", hex::encode(s.cast.doctor.to_bytes()))
        .env(
            "EHR_API_FUZZ_EXAMPLES",
            std::env::var("EHR_API_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into()),
        )
        .current_dir(s.dir.path())
        .output()
        .expect("python runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}"
    );
    assert!(report.contains("passed"), "{report}");
    // The gateway answered everything without falling over.
    assert!(
        !s.log("gateway.log").contains("panicked"),
        "{}",
        s.log("gateway.log")
    );
}
