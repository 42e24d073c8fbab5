//! Any Kafka message as a reading: the protobuf and JSON decoders refuse with
//! a reason, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ehr_ingest::reading::decode(data);
    // The JSON form whatever its first byte.
    let mut json = Vec::with_capacity(data.len() + 1);
    json.push(b'{');
    json.extend_from_slice(data);
    let _ = ehr_ingest::reading::decode(&json);
});
