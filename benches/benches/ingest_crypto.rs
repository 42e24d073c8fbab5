//! What ingest spends per reading on cryptography, one operation at a time:
//! decoding and verifying the device's signature, encrypting the reading
//! under a fresh data key, and wrapping that key (ECIES on secp256k1) for one
//! reader — ingest wraps once per reader: the patient, each grantee of the
//! category, each gateway's escrow.
//!
//! cargo bench -p ehr-benches --bench ingest_crypto

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ehr_client::readings::sign;
use ehr_client::record_encryption::{encrypt_record, unwrap_key, wrap_key, DataKey};
use ehr_ingest::reading::{decode, verify};
use ehr_ledger::crypto::SecretKey;
use ehr_ledger::proto::Reading;

fn reading() -> Reading {
    Reading {
        device_id: "pulse-1".into(),
        seq: 42,
        measured_at_ms: 1_767_225_600_000,
        loinc: "8867-4".into(),
        value: 72.0,
        unit: "/min".into(),
    }
}

fn per_reading(c: &mut Criterion) {
    let device = SecretKey::from_seed("bench device");
    let reader = SecretKey::from_seed("bench reader");
    let payload = sign(&reading(), &device);
    let decoded = decode(&payload).expect("the bench reading decodes");
    let plaintext = decoded.canonical();
    let key = DataKey::generate();
    let wrapped = wrap_key(&reader.public_key(), "rec-1", &key);

    let mut g = c.benchmark_group("ingest_crypto");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_and_verify_reading", |b| {
        b.iter(|| {
            let d = decode(&payload).expect("decodes");
            verify(&d, &device.public_key()).expect("verifies");
        })
    });
    g.bench_function("encrypt_reading_with_a_fresh_key", |b| {
        b.iter(|| encrypt_record(&DataKey::generate(), "rec-1", &plaintext))
    });
    g.bench_function("wrap_key_for_one_reader", |b| {
        b.iter(|| wrap_key(&reader.public_key(), "rec-1", &key))
    });
    g.bench_function("unwrap_key_as_the_reader", |b| {
        b.iter(|| unwrap_key(&reader, "rec-1", &wrapped).expect("opens"))
    });
    g.finish();
}

criterion_group!(benches, per_reading);
criterion_main!(benches);
