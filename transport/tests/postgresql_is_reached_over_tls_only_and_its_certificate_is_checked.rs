//! The PostgreSQL server of `DATABASE_URL` as scripts/setup.sh configures
//! the local one: a connection with `sslmode=verify-full` is encrypted (the
//! server says so in `pg_stat_ssl`); the same login in plaintext is refused
//! by the server; a client that trusts another authority refuses the
//! server's certificate.

use ehr_transport::pki::Authority;
use ehr_transport::postgres::connect_blocking;

fn chain_of_errors(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    out
}

#[test]
fn postgresql_is_reached_over_tls_only_and_its_certificate_is_checked() {
    let url = std::env::var("DATABASE_URL").unwrap_or_default();
    if !url.contains("sslmode=verify-full") {
        println!(
            "skipped: DATABASE_URL does not ask for TLS (sslmode=verify-full); \
             scripts/test.sh sets it to the local server's TLS URL"
        );
        return;
    }

    let mut db = connect_blocking(&url).unwrap_or_else(|e| panic!("{}", chain_of_errors(&e)));
    let encrypted: bool = db
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        encrypted,
        "the server says this connection is not encrypted"
    );

    let plaintext = url.replace("sslmode=verify-full", "sslmode=disable");
    let Err(e) = connect_blocking(&plaintext) else {
        panic!("the server accepted plaintext")
    };
    assert!(
        chain_of_errors(&e).contains("no encryption"),
        "refused, but not for plaintext: {}",
        chain_of_errors(&e)
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let other_ca = elsewhere.path().join("other.pem");
    Authority::new("another authority")
        .unwrap()
        .write_certificate(&other_ca)
        .unwrap();
    let (main, query) = url.split_once('?').unwrap();
    let query: Vec<&str> = query
        .split('&')
        .filter(|o| !o.starts_with("sslrootcert="))
        .collect();
    let stranger = format!(
        "{main}?{}&sslrootcert={}",
        query.join("&"),
        other_ca.display()
    );
    let Err(e) = connect_blocking(&stranger) else {
        panic!("a certificate another authority signed was taken")
    };
    assert!(
        chain_of_errors(&e).contains("UnknownIssuer"),
        "refused, but not for the certificate: {}",
        chain_of_errors(&e)
    );
}
