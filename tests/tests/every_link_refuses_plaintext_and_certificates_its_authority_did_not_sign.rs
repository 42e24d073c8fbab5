//! The whole stack on four CometBFT validators runs TLS on every listener:
//! each validator's RPC, the gateway, ingest's metrics. Each refuses a
//! plaintext request; a client that trusts another authority refuses each of
//! them (the server's certificate is not one it can check); ingest's metrics,
//! which only the hospital's own monitoring reaches, run mutual TLS and refuse
//! a client without a certificate and a client whose certificate another
//! authority signed — and answer one whose certificate the consortium's
//! authority signed.

use std::time::Duration;

use ehr_testkit::pki::{self, Pki};
use ehr_testkit::stack::Stack;
use ehr_transport::{ClientTlsArgs, Transport};

/// Why a request failed, all the way down (reqwest hides the TLS reason in
/// its sources).
fn reason(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn client(
    ca: &std::path::Path,
    identity: Option<&ehr_transport::pki::IdentityFiles>,
) -> reqwest::Client {
    Transport::for_client(&ClientTlsArgs {
        ca_file: Some(ca.to_path_buf()),
        cert_file: identity.map(|i| i.certificate.clone()),
        key_file: identity.map(|i| i.key.clone()),
    })
    .unwrap()
    .http(Duration::from_secs(20))
}

#[test]
fn every_link_refuses_plaintext_and_certificates_its_authority_did_not_sign() {
    let s = Stack::start_on_cometbft();
    let ours = pki::for_tests();
    let elsewhere = tempfile::tempdir().unwrap();
    let other = Pki::create(elsewhere.path(), "another authority").unwrap();
    let rt = &s.runtime;
    let _in_runtime = rt.enter();

    let mut listeners: Vec<(String, String)> = s
        .node
        .urls()
        .into_iter()
        .map(|url| ("a validator's RPC".to_string(), format!("{url}/status")))
        .collect();
    listeners.push(("the gateway".into(), format!("{}/health", s.gateway.url)));
    listeners.push(("ingest's metrics".into(), s.ingest.metrics.clone()));
    assert_eq!(listeners.len(), 6);

    let trusting_ours = ehr_transport::process().http(Duration::from_secs(20));
    let trusting_other = client(&other.ca_file, None);
    for (what, url) in &listeners {
        assert!(
            url.starts_with("https://"),
            "{what} is not served over TLS: {url}"
        );

        // The consortium's own client, with its certificate: answered.
        let answer = rt.block_on(trusting_ours.get(url).send());
        match answer {
            Ok(r) => assert!(r.status().is_success(), "{what} at {url}: {}", r.status()),
            Err(e) => panic!(
                "{what} at {url} refused the consortium's client: {}",
                reason(&e)
            ),
        }

        // Plaintext to the same port: no answer served.
        let plain = url.replacen("https://", "http://", 1);
        match rt.block_on(trusting_ours.get(&plain).send()) {
            // CometBFT's Go server says so in HTTP; ours close the connection.
            Ok(r) => assert_eq!(
                r.status().as_u16(),
                400,
                "{what} served plaintext at {plain}"
            ),
            Err(e) => assert!(!reason(&e).is_empty()),
        }

        // A client that trusts another authority does not take its certificate.
        let e = rt
            .block_on(trusting_other.get(url).send())
            .expect_err("a certificate the client's authority did not sign was accepted");
        assert!(
            reason(&e).contains("UnknownIssuer"),
            "{what}: refused, but not for its certificate: {}",
            reason(&e)
        );
    }

    // Mutual TLS on ingest's metrics.
    let metrics = &s.ingest.metrics;
    let anonymous = client(&ours.ca_file, None);
    let stranger = client(&ours.ca_file, Some(&other.issue("stranger").unwrap()));
    let member = client(&ours.ca_file, Some(&ours.issue("monitoring").unwrap()));
    for (who, c) in [
        ("no certificate", &anonymous),
        ("another authority's certificate", &stranger),
    ] {
        let refused = rt.block_on(async { c.get(metrics).send().await?.error_for_status() });
        assert!(
            refused.is_err(),
            "ingest's metrics answered a client with {who}"
        );
    }
    let text = rt
        .block_on(async { member.get(metrics).send().await?.text().await })
        .unwrap_or_else(|e| {
            panic!(
                "a monitoring client of the consortium was refused: {}",
                reason(&e)
            )
        });
    assert!(text.contains("ehr_ingest_readings_stored_total"), "{text}");
}
