//! What a device sends to the broker: a reading signed by the device's key,
//! as protobuf (`SignedReading`) or in its JSON form. Ingest decodes and
//! verifies both (docs/ingest.md gives the format).

use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::{Reading, SignedReading};
use prost::Message;

/// The topic devices publish their readings to, and the one ingest
/// dead-letters refused messages to, unless told otherwise.
pub const READINGS_TOPIC: &str = "ehr.readings";
pub const DEAD_LETTER_TOPIC: &str = "ehr.readings.dead-letter";

/// What every producer of readings (a device gateway) and of refusals
/// (ingest's dead letters) sets: a write is acknowledged only once every
/// in-sync replica has it (with the topic's `min.insync.replicas` 2 of 3,
/// a broker lost loses nothing acknowledged), and retries after a broker
/// failure neither duplicate nor reorder (idempotence).
pub const DURABLE_PRODUCER: [(&str, &str); 2] = [("acks", "all"), ("enable.idempotence", "true")];

/// Signs a reading as a device does: the protobuf SignedReading.
pub fn sign(reading: &Reading, key: &SecretKey) -> Vec<u8> {
    let bytes = reading.encode_to_vec();
    let signature = key.sign(&bytes).to_vec();
    SignedReading {
        reading: bytes,
        signature,
    }
    .encode_to_vec()
}

/// The JSON form of a signed reading.
pub fn sign_json(reading: &Reading, key: &SecretKey) -> Vec<u8> {
    let signature = hex::encode(key.sign(&reading.encode_to_vec()));
    serde_json::json!({
        "device_id": reading.device_id,
        "seq": reading.seq,
        "measured_at_ms": reading.measured_at_ms,
        "loinc": reading.loinc,
        "value": reading.value,
        "unit": reading.unit,
        "signature": signature,
    })
    .to_string()
    .into_bytes()
}
