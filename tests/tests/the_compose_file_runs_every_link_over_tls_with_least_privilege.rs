//! The facts of compose/docker-compose.yml, read with a YAML parser (no Docker
//! engine runs on the build machines): ports published on 127.0.0.1 only; no
//! password on a command line or in the file; ingest and the gateway log in
//! to PostgreSQL with their own least-privilege logins, never the owner's;
//! each ehr-node has no network and speaks ABCI over a socket only its own
//! validator shares; every client link is https or SASL/SCRAM over TLS and
//! nothing is told to run plaintext; PostgreSQL takes TCP clients over TLS
//! only; Kafka's listeners are SASL_SSL and SSL.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_norway::Value;

fn compose_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../compose")
}

/// Every service, its `<<:` merge keys applied.
fn services() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(compose_dir().join("docker-compose.yml")).unwrap();
    let mut file: Value = serde_norway::from_str(&text).expect("the compose file is YAML");
    file.apply_merge().unwrap();
    let services = file["services"].as_mapping().expect("services").clone();
    services
        .into_iter()
        .map(|(name, mut service)| {
            service.apply_merge().unwrap();
            (name.as_str().unwrap().to_string(), service)
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::Mapping(m) => m
            .iter()
            .flat_map(|(k, v)| {
                let mut out = strings(k);
                out.extend(strings(v));
                out
            })
            .collect(),
        Value::Number(n) => vec![n.to_string()],
        _ => vec![],
    }
}

fn command_line(service: &Value) -> String {
    let mut all = strings(&service["entrypoint"]);
    all.extend(strings(&service["command"]));
    all.join(" ")
}

fn volumes(service: &Value) -> Vec<String> {
    strings(&service["volumes"])
}

#[test]
fn the_compose_file_runs_every_link_over_tls_with_least_privilege() {
    let services = services();
    assert!(services.len() > 20, "{} services", services.len());

    for (name, service) in &services {
        for port in strings(&service["ports"]) {
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name} publishes {port} beyond this machine"
            );
        }
        let line = command_line(service);
        let env = strings(&service["environment"]).join(" ");
        assert!(
            !line.contains("--insecure-plaintext") && !line.contains("--kafka-insecure-plaintext"),
            "{name} runs plaintext: {line}"
        );
        assert!(
            !line.contains("http://"),
            "{name} speaks plain HTTP: {line}"
        );
        for secret in [
            "sasl.password",
            "--database-url=postgres://",
            "POSTGRES_PASSWORD=",
        ] {
            assert!(
                !line.contains(secret),
                "{name} puts a secret on its command line: {line}"
            );
        }
        assert!(
            !env.contains("POSTGRES_PASSWORD ") && !env.contains("postgres://"),
            "{name} keeps a password in the compose file: {env}"
        );
    }

    // The services log in with their own least-privilege logins.
    for (name, login) in [
        ("ingest", "/services/ingest.url"),
        ("gateway", "/services/gateway.url"),
    ] {
        let s = &services[name];
        let line = command_line(s);
        // `$$` is compose's escape: the shell in the container reads the file.
        assert!(
            line.contains(&format!("DATABASE_URL=$$(cat {login})")),
            "{name}: {line}"
        );
        assert!(
            !volumes(s).iter().any(|v| v.starts_with("db-secrets")),
            "{name} mounts the owner's secrets"
        );
        assert!(
            line.contains("--ca-file=/public/ca.pem") && line.contains("--tls-cert-file="),
            "{name}: {line}"
        );
        assert!(line.contains("--node=https://"), "{name}: {line}");
    }
    // Neither of General's services holds the other's key, login or certificate.
    let shared: Vec<String> = volumes(&services["ingest"])
        .into_iter()
        .map(|v| v.split(':').next().unwrap_or_default().to_string())
        .filter(|v| {
            volumes(&services["gateway"])
                .iter()
                .any(|g| g.split(':').next() == Some(v.as_str()))
        })
        .collect();
    assert_eq!(
        shared,
        vec!["public".to_string()],
        "ingest and the gateway share volumes"
    );
    let ingest = command_line(&services["ingest"]);
    assert!(
        ingest.contains("--kafka-user=ingest") && ingest.contains("--kafka-password-file="),
        "{ingest}"
    );
    assert!(
        ingest.contains("--require-client-cert"),
        "ingest's metrics: {ingest}"
    );
    // Only the one-shot setup (and the demo's driver) reads the owner's URL.
    for (name, s) in &services {
        if volumes(s).iter().any(|v| v.starts_with("db-secrets")) {
            assert!(
                ["secrets", "postgres", "db-setup", "story"].contains(&name.as_str()),
                "{name} mounts the database owner's secrets"
            );
        }
    }

    // Each ehr-node: no network; ABCI over a socket only its validator shares.
    for org in ["general", "north", "south", "east"] {
        let node = &services[&format!("ehr-{org}")];
        assert_eq!(node["network_mode"].as_str(), Some("none"), "ehr-{org}");
        assert!(
            command_line(node).contains("--abci unix:///abci/abci.sock"),
            "ehr-{org}"
        );
        let socket = format!("{org}-abci:");
        let sharing: Vec<&String> = services
            .iter()
            .filter(|(_, s)| volumes(s).iter().any(|v| v.starts_with(&socket)))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            sharing,
            vec![&format!("cmt-{org}"), &format!("ehr-{org}")],
            "{org}'s ABCI socket"
        );
        let keys = format!("{org}-cometbft:");
        let holders: Vec<&String> = services
            .iter()
            .filter(|(_, s)| volumes(s).iter().any(|v| v.starts_with(&keys)))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            holders,
            vec![&format!("cmt-{org}"), &format!("keys-{org}")],
            "{org}'s validator keys"
        );
    }

    // PostgreSQL: TLS on, and every TCP line of its pg_hba is hostssl.
    let pg = command_line(&services["postgres"]);
    assert!(
        pg.contains("ssl=on") && pg.contains("hba_file=/ceremony/pg_hba.conf"),
        "{pg}"
    );
    assert!(strings(&services["postgres"]["environment"])
        .contains(&"POSTGRES_PASSWORD_FILE".to_string()));
    let hba = std::fs::read_to_string(compose_dir().join("ceremony/pg_hba.conf")).unwrap();
    for line in hba.lines().filter(|l| l.starts_with("host")) {
        assert!(
            line.starts_with("hostssl"),
            "pg_hba lets plaintext in: {line}"
        );
    }

    // Kafka: the properties its start script writes.
    let kafka = std::fs::read_to_string(compose_dir().join("ceremony/start-kafka.sh")).unwrap();
    let map = kafka
        .lines()
        .find(|l| l.starts_with("listener.security.protocol.map="))
        .expect("a listener map");
    assert_eq!(
        map,
        "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL"
    );
    assert!(kafka.contains("allow.everyone.if.no.acl.found=false"));
    assert!(kafka.contains("listener.name.controller.ssl.client.auth=required"));
}
