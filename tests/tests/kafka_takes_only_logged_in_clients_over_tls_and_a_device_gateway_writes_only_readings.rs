//! Apache Kafka as the project runs it: clients over TLS who log in with
//! SCRAM-SHA-512 as one of its users, each allowed only what its ACLs say. A
//! plaintext client, a wrong password and a client that trusts another
//! authority get nothing; a device gateway writes readings and nothing else —
//! not the dead-letter topic, and it reads nothing; ingest may not write
//! readings.

use std::time::Duration;

use ehr_testkit::kafka::{ADMIN, DEVICE_GATEWAY, INGEST};
use ehr_testkit::pki::Pki;
use ehr_testkit::stack::{Broker, DLQ, TOPIC};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;

const WAIT: Duration = Duration::from_secs(10);

/// Whether the broker answers this client's metadata request for `topic`.
fn answers(config: &ClientConfig, topic: &str) -> Result<(), String> {
    let producer: FutureProducer = config.create().map_err(|e| e.to_string())?;
    producer
        .client()
        .fetch_metadata(Some(topic), WAIT)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Writes one record to `topic` as `config`'s user: the broker's verdict.
fn write(rt: &tokio::runtime::Runtime, config: &ClientConfig, topic: &str) -> Result<(), String> {
    let producer: FutureProducer = config
        .clone()
        .set("message.timeout.ms", "10000")
        .create()
        .map_err(|e| e.to_string())?;
    rt.block_on(producer.send(FutureRecord::to(topic).key("k").payload("p"), WAIT))
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
}

#[test]
fn kafka_takes_only_logged_in_clients_over_tls_and_a_device_gateway_writes_only_readings() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();

    // Plaintext, a wrong password, another authority: no answer at all.
    let plaintext = {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &broker.address);
        c
    };
    assert!(
        answers(&plaintext, TOPIC).is_err(),
        "a plaintext client was answered"
    );
    let mut wrong_password = broker.client_config(DEVICE_GATEWAY);
    wrong_password.set("sasl.password", "not-the-password");
    // (librdkafka reports the failed login as the connection failing.)
    assert!(
        answers(&wrong_password, TOPIC).is_err(),
        "a wrong password was answered"
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let other = Pki::create(elsewhere.path(), "another authority").unwrap();
    let mut stranger = broker.client_config(DEVICE_GATEWAY);
    stranger.set("ssl.ca.location", other.ca_file.to_str().unwrap());
    assert!(
        answers(&stranger, TOPIC).is_err(),
        "a client that cannot check the broker's certificate went on"
    );

    // The device gateway: readings, and nothing else.
    let device = broker.client_config(DEVICE_GATEWAY);
    write(&rt, &device, TOPIC)
        .unwrap_or_else(|e| panic!("a device gateway cannot write readings: {e}"));
    let refused =
        write(&rt, &device, DLQ).expect_err("a device gateway wrote the dead-letter topic");
    assert!(refused.contains("authoriz"), "{refused}");
    let reader: BaseConsumer = broker
        .client_config(DEVICE_GATEWAY)
        .set("group.id", "ehr-ingest")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    reader.subscribe(&[TOPIC]).unwrap();
    let polled = reader.poll(WAIT);
    assert!(
        matches!(&polled, Some(Err(_))),
        "a device gateway read readings: {:?}",
        polled.map(|m| m.map(|_| "a message"))
    );

    // Ingest reads readings and writes refusals, but writes no readings.
    let ingest = broker.client_config(INGEST);
    write(&rt, &ingest, DLQ).unwrap_or_else(|e| panic!("ingest cannot write refusals: {e}"));
    let refused = write(&rt, &ingest, TOPIC).expect_err("ingest wrote a reading");
    assert!(refused.contains("authoriz"), "{refused}");

    // The admin (the tests' own looks) sees both records written.
    let admin: BaseConsumer = broker
        .client_config(ADMIN)
        .set("group.id", "look")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    admin.subscribe(&[TOPIC, DLQ]).unwrap();
    let mut seen = 0;
    for _ in 0..30 {
        if let Some(Ok(_)) = admin.poll(Duration::from_secs(1)) {
            seen += 1;
            if seen == 2 {
                break;
            }
        }
    }
    assert_eq!(seen, 2, "the records the broker accepted are there");
}
