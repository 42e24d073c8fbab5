//! The listener every service uses (`transport::ServiceListener`), on a real
//! socket: it answers a client that trusts its authority; a plaintext request
//! gets no HTTP answer; a client that trusts another authority refuses it; a
//! client that connects and says nothing holds up no one else; with
//! `--require-client-cert`, a client without a certificate, or with one
//! another authority signed, is refused.

use std::path::Path;
use std::time::Duration;

use ehr_transport::pki::{Authority, IdentityFiles};
use ehr_transport::{ClientTlsArgs, ServiceListener, TlsArgs, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Authorities {
    dir: tempfile::TempDir,
    ours: Authority,
    other: Authority,
}

impl Authorities {
    fn new() -> Authorities {
        let dir = tempfile::tempdir().unwrap();
        let (ours, other) = (
            Authority::new("ours").unwrap(),
            Authority::new("other").unwrap(),
        );
        ours.write_certificate(&dir.path().join("ours.pem"))
            .unwrap();
        other
            .write_certificate(&dir.path().join("other.pem"))
            .unwrap();
        Authorities { dir, ours, other }
    }

    fn ca(&self, which: &str) -> std::path::PathBuf {
        self.dir.path().join(format!("{which}.pem"))
    }

    fn identity(&self, by: &Authority, name: &str) -> IdentityFiles {
        by.issue(name, &["127.0.0.1"])
            .unwrap()
            .write(self.dir.path(), name)
            .unwrap()
    }
}

fn transport(ca: &Path, identity: Option<&IdentityFiles>, mutual: bool) -> Transport {
    Transport::from_args(&TlsArgs {
        client: ClientTlsArgs {
            ca_file: Some(ca.to_path_buf()),
            cert_file: identity.map(|i| i.certificate.clone()),
            key_file: identity.map(|i| i.key.clone()),
        },
        require_client_cert: mutual,
        ..Default::default()
    })
    .unwrap()
}

/// Serves "ok" on `/` with `server`'s listener TLS; its URL.
async fn serve(server: &Transport) -> String {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = ServiceListener::new(tcp, server.server().unwrap()).unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn chain_of_errors(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    out
}

#[tokio::test]
async fn a_tls_listener_serves_only_whom_its_authority_vouches_for() {
    let a = Authorities::new();
    let server_identity = a.identity(&a.ours, "server");
    let url = serve(&transport(&a.ca("ours"), Some(&server_identity), false)).await;
    let ours = transport(&a.ca("ours"), None, false).http(Duration::from_secs(10));

    // A client trusting the authority is answered.
    assert_eq!(
        ours.get(&url).send().await.unwrap().text().await.unwrap(),
        "ok"
    );

    // One trusting another authority refuses the server's certificate.
    let e = transport(&a.ca("other"), None, false)
        .http(Duration::from_secs(10))
        .get(&url)
        .send()
        .await
        .expect_err("a certificate another authority signed was taken");
    assert!(
        chain_of_errors(&e).contains("UnknownIssuer"),
        "{}",
        chain_of_errors(&e)
    );

    // Plaintext HTTP to the TLS port: the connection ends without an HTTP answer.
    let address = url.trim_start_matches("https://").trim_end_matches('/');
    let mut plain = tokio::net::TcpStream::connect(address).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "plaintext was served: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // A client that connects and says nothing holds up no one: others are
    // answered while it sits there.
    let _silent: Vec<_> = futures_util::future::join_all(
        (0..8).map(|_| tokio::net::TcpStream::connect(address.to_string())),
    )
    .await;
    for _ in 0..3 {
        let answered = tokio::time::timeout(Duration::from_secs(5), ours.get(&url).send()).await;
        assert!(
            matches!(&answered, Ok(Ok(r)) if r.status().is_success()),
            "a silent client held up another's request: {answered:?}"
        );
    }
}

#[tokio::test]
async fn with_mutual_tls_a_client_needs_a_certificate_its_authority_signed() {
    let a = Authorities::new();
    let server_identity = a.identity(&a.ours, "server");
    let url = serve(&transport(&a.ca("ours"), Some(&server_identity), true)).await;
    let member = a.identity(&a.ours, "monitoring");
    let stranger = a.identity(&a.other, "stranger");

    for (who, identity) in [
        ("no certificate", None),
        ("another authority's", Some(&stranger)),
    ] {
        let answered = async {
            transport(&a.ca("ours"), identity, false)
                .http(Duration::from_secs(10))
                .get(&url)
                .send()
                .await?
                .error_for_status()
        }
        .await;
        assert!(answered.is_err(), "a client with {who} was answered");
    }
    let answered = transport(&a.ca("ours"), Some(&member), false)
        .http(Duration::from_secs(10))
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the consortium's client was refused: {}",
                chain_of_errors(&e)
            )
        });
    assert_eq!(answered.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn with_a_client_authority_of_its_own_a_listener_takes_only_its_clients() {
    // The server trusts "ours" for what it calls, and takes as clients only
    // those "other" vouches for (--client-ca-file): a certificate of its own
    // authority does not pass for a client's.
    let a = Authorities::new();
    let server_identity = a.identity(&a.ours, "server");
    let server = Transport::from_args(&TlsArgs {
        client: ClientTlsArgs {
            ca_file: Some(a.ca("ours")),
            cert_file: Some(server_identity.certificate.clone()),
            key_file: Some(server_identity.key.clone()),
        },
        require_client_cert: true,
        client_ca_file: Some(a.ca("other")),
        ..Default::default()
    })
    .unwrap();
    let url = serve(&server).await;
    let service = a.identity(&a.ours, "a-service");
    let caller = a.identity(&a.other, "a-caller");
    let ask = |identity: &IdentityFiles| {
        transport(&a.ca("ours"), Some(identity), false)
            .http(Duration::from_secs(10))
            .get(&url)
            .send()
    };
    let refused = async { ask(&service).await?.error_for_status() }.await;
    assert!(
        refused.is_err(),
        "a service's certificate passed for a caller's"
    );
    let answered = ask(&caller)
        .await
        .unwrap_or_else(|e| panic!("the caller was refused: {}", chain_of_errors(&e)));
    assert_eq!(answered.text().await.unwrap(), "ok");
}

#[test]
fn a_listener_without_a_certificate_does_not_fall_back_to_plaintext() {
    let t = Transport::from_args(&TlsArgs::default()).unwrap();
    let e = t
        .server()
        .expect_err("a listener without a certificate started");
    assert!(e.to_string().contains("--insecure-plaintext"), "{e}");
    let plain = Transport::from_args(&TlsArgs {
        insecure_plaintext: true,
        ..Default::default()
    })
    .unwrap();
    assert!(plain.server().unwrap().is_none());
}

#[test]
fn unreadable_or_empty_files_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").unwrap();
    for (path, says) in [
        (dir.path().join("missing.pem"), "cannot read"),
        (empty.clone(), "holds no certificate"),
    ] {
        let e = Transport::for_client(&ClientTlsArgs {
            ca_file: Some(path.clone()),
            ..Default::default()
        })
        .expect_err("a bad CA file was taken");
        assert!(
            e.to_string().contains(says) && e.to_string().contains(&*path.to_string_lossy()),
            "{e}"
        );
    }
}
