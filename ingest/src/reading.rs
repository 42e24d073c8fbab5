//! A device reading off the wire: decoded (protobuf or the JSON form), its
//! shape and plausibility checked, its signature verified against the device
//! key registered on chain. Every refusal has a stable reason name.

use std::fmt;

use ehr_ledger::crypto::{sha256, verify_signature, PublicKey};
use ehr_ledger::proto::{Reading, SignedReading};
use prost::Message;
use serde::Deserialize;

/// The largest message accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// How far in the future (by the service's clock) a measurement may claim to be.
pub const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;
/// How old a measurement may be when it arrives.
pub const MAX_AGE_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Why a message was refused: a stable name (for the rejects table, the
/// dead-letter headers and the metrics) and a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub reason: Reason,
    pub detail: String,
}

macro_rules! reasons {
    ($($name:ident = $text:literal,)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason { $($name,)* }
        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$name,)*];
            pub fn as_str(self) -> &'static str {
                match self { $(Reason::$name => $text,)* }
            }
        }
    };
}

reasons! {
    Empty = "empty",
    Oversize = "oversize",
    Undecodable = "undecodable",
    BadJson = "bad_json",
    MissingField = "missing_field",
    BadDeviceId = "bad_device_id",
    BadSequence = "bad_sequence",
    UnsupportedCode = "unsupported_code",
    RetiredCode = "retired_code",
    WrongUnit = "wrong_unit",
    NotFinite = "not_finite",
    Implausible = "implausible_value",
    FutureTime = "future_time",
    StaleTime = "stale_time",
    BadSignature = "bad_signature",
    UnknownDevice = "unknown_device",
    RevokedDevice = "revoked_device",
    UnknownPatient = "unknown_patient",
    SequenceReused = "sequence_reused",
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}

fn reject<T>(reason: Reason, detail: impl Into<String>) -> Result<T, Reject> {
    Err(Reject {
        reason,
        detail: detail.into(),
    })
}

use ehr_ledger::proto::Concept;

/// The JSON form of a signed reading (docs/ingest.md). The signature covers
/// the protobuf encoding of the same reading, so both forms verify alike.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonReading {
    device_id: String,
    seq: u64,
    measured_at_ms: i64,
    loinc: String,
    value: f64,
    unit: String,
    /// 128 hex digits.
    signature: String,
}

/// A decoded message: the reading, the exact bytes that were signed, the signature.
#[derive(Clone, Debug)]
pub struct Decoded {
    pub reading: Reading,
    pub signed_bytes: Vec<u8>,
    pub signature: Vec<u8>,
}

impl Decoded {
    /// The canonical protobuf SignedReading, which is what gets encrypted and stored.
    pub fn canonical(&self) -> Vec<u8> {
        SignedReading {
            reading: self.signed_bytes.clone(),
            signature: self.signature.clone(),
        }
        .encode_to_vec()
    }

    /// Identifies the reading's content: the same reading sent twice has
    /// the same hash, another one under the same sequence another.
    pub fn content_hash(&self) -> ContentHash {
        content_hash(&self.signed_bytes)
    }
}

/// What tells two readings under one sequence apart: the first 16 bytes of
/// the SHA-256 of the signed reading, as stored with it
/// (`ingest.records.content_hash`). 128 bits tell a reading sent again from
/// another as surely as 256: a device that wanted one of its readings
/// dropped could simply not send it.
pub type ContentHash = [u8; 16];

/// The [`ContentHash`] of a signed reading's bytes.
pub fn content_hash(signed_bytes: &[u8]) -> ContentHash {
    let mut out = [0u8; 16];
    out.copy_from_slice(&sha256(signed_bytes)[..16]);
    out
}

/// The refusal of a message of `size` bytes, if a reading cannot be that large.
pub fn oversize(size: usize) -> Option<Reject> {
    (size > MAX_MESSAGE_BYTES).then(|| Reject {
        reason: Reason::Oversize,
        detail: format!("{size} bytes; at most {MAX_MESSAGE_BYTES}"),
    })
}

/// Decodes a Kafka message: protobuf `SignedReading`, or the JSON form (a
/// message whose first byte is `{`).
pub fn decode(payload: &[u8]) -> Result<Decoded, Reject> {
    if payload.is_empty() {
        return reject(Reason::Empty, "the message is empty");
    }
    if let Some(r) = oversize(payload.len()) {
        return Err(r);
    }
    if payload[0] == b'{' {
        let j: JsonReading = serde_json::from_slice(payload).map_err(|e| Reject {
            reason: Reason::BadJson,
            detail: format!("not the JSON form of a reading: {e}"),
        })?;
        let signature = hex::decode(&j.signature).map_err(|_| Reject {
            reason: Reason::BadSignature,
            detail: "signature is not hex".into(),
        })?;
        let reading = Reading {
            device_id: j.device_id,
            seq: j.seq,
            measured_at_ms: j.measured_at_ms,
            loinc: j.loinc,
            value: j.value,
            unit: j.unit,
        };
        let signed_bytes = reading.encode_to_vec();
        return Ok(Decoded {
            reading,
            signed_bytes,
            signature,
        });
    }
    let signed = SignedReading::decode(payload).map_err(|e| Reject {
        reason: Reason::Undecodable,
        detail: format!("not a SignedReading: {e}"),
    })?;
    if signed.reading.is_empty() {
        return reject(Reason::MissingField, "the SignedReading carries no reading");
    }
    let reading = Reading::decode(signed.reading.as_slice()).map_err(|e| Reject {
        reason: Reason::Undecodable,
        detail: format!("the signed bytes are not a Reading: {e}"),
    })?;
    Ok(Decoded {
        reading,
        signed_bytes: signed.reading,
        signature: signed.signature,
    })
}

/// Shape and time, against the service's clock `now_ms`: all that needs
/// neither the chain nor the code directory.
pub fn shape(r: &Reading, now_ms: i64) -> Result<(), Reject> {
    if r.device_id.is_empty() {
        return reject(Reason::MissingField, "device_id is missing");
    }
    if r.device_id.len() > 64
        || !r
            .device_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
    {
        return reject(
            Reason::BadDeviceId,
            "device_id must be 1..=64 characters of [A-Za-z0-9._:-]",
        );
    }
    if r.seq == 0 {
        return reject(Reason::BadSequence, "seq starts at 1");
    }
    if r.loinc.is_empty() || r.unit.is_empty() || r.measured_at_ms == 0 {
        return reject(
            Reason::MissingField,
            "loinc, unit and measured_at_ms are required",
        );
    }
    if !r.value.is_finite() {
        return reject(Reason::NotFinite, "the value is not a finite number");
    }
    if r.measured_at_ms > now_ms + MAX_FUTURE_MS {
        return reject(
            Reason::FutureTime,
            "measured more than 5 minutes in the future",
        );
    }
    if r.measured_at_ms < now_ms - MAX_AGE_MS {
        return reject(Reason::StaleTime, "measured more than 30 days ago");
    }
    Ok(())
}

/// The reading against its code in the consortium's directory (`None`: the
/// directory has no such code): a measurement, not retired when measured
/// (a reading taken before the retirement and sent late is still taken),
/// in its unit and plausible range.
pub fn against(r: &Reading, concept: Option<&Concept>) -> Result<(), Reject> {
    let entry = match concept.and_then(|c| c.entry.as_ref()) {
        Some(e) => e,
        None => {
            return reject(
                Reason::UnsupportedCode,
                format!(
                    "LOINC {} is not in the consortium's code directory",
                    r.loinc
                ),
            )
        }
    };
    let name = &entry.display;
    if entry.unit.is_empty() {
        return reject(
            Reason::UnsupportedCode,
            format!("LOINC {} ({name}) is not a measurement", r.loinc),
        );
    }
    if let Some(c) = concept {
        if let Some(why) = ehr_ledger::ledger::codes::retirement(c) {
            if r.measured_at_ms >= c.retired_at.saturating_mul(1000) {
                return reject(Reason::RetiredCode, why);
            }
        }
    }
    if r.unit != entry.unit {
        return reject(
            Reason::WrongUnit,
            format!("{name} is measured in {}, not {}", entry.unit, r.unit),
        );
    }
    if r.value < entry.min || r.value > entry.max {
        return reject(
            Reason::Implausible,
            format!(
                "{name} outside {}..={} {}",
                entry.min, entry.max, entry.unit
            ),
        );
    }
    Ok(())
}

/// The device's signature over the signed bytes.
pub fn verify(d: &Decoded, device_key: &PublicKey) -> Result<(), Reject> {
    verify_signature(device_key, &d.signed_bytes, &d.signature).map_err(|e| Reject {
        reason: Reason::BadSignature,
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehr_client::readings::{sign, sign_json};
    use ehr_ledger::crypto::SecretKey;
    use ehr_ledger::proto::ConceptStatus;

    const NOW: i64 = 1_767_225_600_000;

    /// The reading checked against the directory a consortium starts with.
    fn check(r: &Reading, now_ms: i64) -> Result<(), Reject> {
        shape(r, now_ms)?;
        let seed = ehr_ledger::ledger::genesis::seed_codes();
        let concept = seed
            .iter()
            .find(|c| c.system == "loinc" && c.code == r.loinc)
            .map(|c| Concept {
                entry: Some(c.entry().expect("a seed code")),
                status: ConceptStatus::Active as i32,
                ..Default::default()
            });
        against(r, concept.as_ref())
    }

    fn hr(value: f64) -> Reading {
        Reading {
            device_id: "hr-1".into(),
            seq: 1,
            measured_at_ms: NOW,
            loinc: "8867-4".into(),
            value,
            unit: "/min".into(),
        }
    }

    #[test]
    fn both_wire_forms_decode_to_the_same_signed_bytes_and_verify() {
        let key = SecretKey::from_seed("device");
        let r = hr(72.0);
        for payload in [sign(&r, &key), sign_json(&r, &key)] {
            let d = decode(&payload).unwrap();
            assert_eq!(d.reading, r);
            assert!(check(&d.reading, NOW).is_ok());
            verify(&d, &key.public_key()).unwrap();
            assert_eq!(
                verify(&d, &SecretKey::from_seed("other").public_key())
                    .unwrap_err()
                    .reason,
                Reason::BadSignature
            );
        }
        assert_eq!(
            decode(&sign(&r, &key)).unwrap().content_hash(),
            decode(&sign_json(&r, &key)).unwrap().content_hash()
        );
    }

    #[test]
    fn implausible_readings_are_refused_with_their_reason() {
        let cases = [
            (hr(500.0), Reason::Implausible),
            (hr(f64::NAN), Reason::NotFinite),
            (
                Reading {
                    unit: "bpm".into(),
                    ..hr(70.0)
                },
                Reason::WrongUnit,
            ),
            (
                Reading {
                    loinc: "1234-4".into(),
                    ..hr(70.0)
                },
                Reason::UnsupportedCode,
            ),
            (Reading { seq: 0, ..hr(70.0) }, Reason::BadSequence),
            (
                Reading {
                    measured_at_ms: NOW + MAX_FUTURE_MS + 1,
                    ..hr(70.0)
                },
                Reason::FutureTime,
            ),
            (
                Reading {
                    measured_at_ms: NOW - MAX_AGE_MS - 1,
                    ..hr(70.0)
                },
                Reason::StaleTime,
            ),
            (
                Reading {
                    device_id: "a b".into(),
                    ..hr(70.0)
                },
                Reason::BadDeviceId,
            ),
        ];
        for (r, reason) in cases {
            assert_eq!(check(&r, NOW).unwrap_err().reason, reason, "{r:?}");
        }
    }

    #[test]
    fn a_retired_code_is_refused_for_readings_measured_since_with_the_reason_and_replacement() {
        let glucose = Concept {
            entry: Some(ehr_ledger::proto::CodeEntry {
                system: ehr_ledger::proto::CodeSystem::Loinc as i32,
                code: "2339-0".into(),
                display: "glucose (mass/volume)".into(),
                unit: "mg/dL".into(),
                min: 10.0,
                max: 1000.0,
            }),
            status: ConceptStatus::Retired as i32,
            retired_at: NOW / 1000,
            retired_by: 7,
            reason: "reported in mmol/L".into(),
            replaced_by: "15074-8".into(),
            ..Default::default()
        };
        let r = |measured_at_ms| Reading {
            loinc: "2339-0".into(),
            unit: "mg/dL".into(),
            measured_at_ms,
            ..hr(95.0)
        };
        let refused = against(&r(NOW), Some(&glucose)).unwrap_err();
        assert_eq!(refused.reason, Reason::RetiredCode);
        assert_eq!(
            refused.detail,
            "LOINC 2339-0 (glucose (mass/volume)) was retired by proposal 7 (reported in mmol/L); use 15074-8"
        );
        // Measured before the decision, sent late: still taken.
        against(&r(NOW - 1), Some(&glucose)).unwrap();
        // A code that is no measurement.
        let diagnosis = Concept {
            entry: Some(ehr_ledger::proto::CodeEntry {
                display: "a panel".into(),
                ..Default::default()
            }),
            status: ConceptStatus::Active as i32,
            ..Default::default()
        };
        let refused = against(&hr(70.0), Some(&diagnosis)).unwrap_err();
        assert_eq!(refused.reason, Reason::UnsupportedCode);
        assert!(refused.detail.contains("not a measurement"));
    }

    #[test]
    fn reason_names_are_unique() {
        let mut names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
    }

    proptest::proptest! {
        /// Any bytes from the broker: a reading or a refusal with a reason,
        /// never a panic; a refusal's detail is storable as it is.
        #[test]
        fn any_message_decodes_or_is_refused_with_a_storable_reason(
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            json in "\\{[ -~\\x00-\\x1f\\u{80}-\\u{10ffff}]{0,300}",
        ) {
            for p in [payload.as_slice(), json.as_bytes()] {
                match decode(p) {
                    Ok(d) => { let _ = check(&d.reading, NOW); }
                    Err(r) => {
                        proptest::prop_assert!(!r.detail.is_empty());
                        let stored = crate::store::storable(&r.detail);
                        proptest::prop_assert!(!stored.contains('\0'));
                    }
                }
            }
        }

        /// A signed reading with any field values decodes to itself, in both forms.
        #[test]
        fn a_signed_reading_round_trips_whatever_it_says(
            device_id in "[A-Za-z0-9._:-]{1,64}",
            seq in 1u64..,
            value in proptest::num::f64::NORMAL,
            loinc in "[0-9]{1,5}-[0-9]",
            unit in "[ -~]{1,10}",
        ) {
            let key = SecretKey::from_seed("device");
            let r = Reading { device_id, seq, measured_at_ms: NOW, loinc, value, unit };
            for payload in [sign(&r, &key), sign_json(&r, &key)] {
                let d = decode(&payload).unwrap();
                proptest::prop_assert_eq!(&d.reading, &r);
                proptest::prop_assert!(verify(&d, &key.public_key()).is_ok());
            }
        }
    }
}
