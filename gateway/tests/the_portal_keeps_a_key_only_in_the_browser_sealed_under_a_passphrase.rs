//! The web portal as the gateway serves it (`--portal-dir portal/dist`),
//! driven in Debian's headless Chromium by `portal/e2e/keys.e2e.mjs`
//! (playwright-core): a key imported and sealed under a passphrase, its
//! address shown, no secret in the browser's storage, a wrong passphrase
//! refused with its sentence, keyboard focus and a phone's width. The
//! screenshots land in docs/portal/ (docs/portal.md shows them).

use ehr_testkit::stack::*;

#[test]
fn the_portal_keeps_a_key_only_in_the_browser_sealed_under_a_passphrase() {
    let portal = workspace_root().join("portal");
    let dist = portal.join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "{} is not built: run `npm ci && npm run build` in portal/ (scripts/test.sh does)",
        dist.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let db = database();
    let gateway = GatewayProcess::start_with(
        dir.path(),
        &db,
        &node,
        &key("gateway@general"),
        &["--portal-dir", dist.to_str().unwrap()],
    );

    // The API is still there, beside the page; nothing outside the
    // portal's folder is served.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let get = |path: &str| {
        runtime.block_on(async {
            let r = ehr_transport::process()
                .http(std::time::Duration::from_secs(30))
                .get(format!("{}{path}", gateway.url))
                .send()
                .await
                .unwrap();
            let headers = r.headers().clone();
            (r.status(), r.text().await.unwrap_or_default(), headers)
        })
    };
    let (status, health, _) = get("/health");
    assert!(status.is_success());
    assert!(
        health.contains("\"demo_logins\":false"),
        "log-in links are for a demonstration's gateway only: {health}"
    );
    let (status, page, headers) = get("/portal/");
    assert!(status.is_success() && page.contains("ehr-ledger portal"));
    // The page that holds a key runs only its own code and is never framed.
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp:?}");
    }
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    for outside in ["/portal/../Cargo.toml", "/portal/%2e%2e/Cargo.toml"] {
        let (status, body, _) = get(outside);
        assert!(
            !body.contains("[workspace]"),
            "{outside} served what is outside the portal ({status})"
        );
    }

    let url = format!("{}/portal/", gateway.url);
    let shots = workspace_root().join("docs/portal");
    run_portal_e2e(
        "keys.e2e.mjs",
        &[url.as_ref(), shots.as_os_str()],
        &ehr_testkit::pki::for_tests().ca_file,
    );
}
