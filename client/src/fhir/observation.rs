//! Device readings as FHIR R4 Observations.
//!
//! A vital sign claims its R4 vital-signs profile and carries what that
//! profile requires: the `vital-signs` category, the profile's LOINC code
//! (oxygen saturation's 2708-6 beside the pulse-oximetry 59408-5 the device
//! sends), and a UCUM quantity whose code is the profile's. A cuff's systolic
//! and diastolic readings of one instant become one blood-pressure panel
//! (85354-9) with two components. Glucose is a laboratory result, not a vital
//! sign. The display and unit come from the consortium's code directory
//! (`codes::Measurements`, proven from the chain), never from the device's
//! string: ingest refused any reading whose unit differed.

use serde_json::{json, Value};

use super::{fhir_id, instant_ms, LOINC, RECORD_ID, UCUM};
use crate::codes::Measurements;
use ehr_ledger::crypto::Address;
use ehr_ledger::proto::CodeEntry;
use ehr_ledger::proto::Reading;

const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const PROFILE: &str = "http://hl7.org/fhir/StructureDefinition/";
const SYSTOLIC: &str = "8480-6";
const DIASTOLIC: &str = "8462-4";
/// Oxygen saturation in arterial blood: the code R4's oxygensat profile requires.
const OXYGEN_SATURATION: &str = "2708-6";

/// A reading and the id it is stored under.
pub struct Record<'a> {
    pub record_id: &'a str,
    pub reading: &'a Reading,
}

/// How a LOINC code is filed: its category and the profile it claims.
fn filing(loinc: &str) -> (&'static str, &'static str, Option<&'static str>) {
    match loinc {
        "8867-4" => ("vital-signs", "Vital Signs", Some("heartrate")),
        "59408-5" | OXYGEN_SATURATION => ("vital-signs", "Vital Signs", Some("oxygensat")),
        "9279-1" => ("vital-signs", "Vital Signs", Some("resprate")),
        "8310-5" => ("vital-signs", "Vital Signs", Some("bodytemp")),
        "29463-7" => ("vital-signs", "Vital Signs", Some("bodyweight")),
        SYSTOLIC | DIASTOLIC => ("vital-signs", "Vital Signs", Some("vitalsigns")),
        "85354-9" => ("vital-signs", "Vital Signs", Some("bp")),
        _ => ("laboratory", "Laboratory", None),
    }
}

fn coding(code: &str, display: &str) -> Value {
    json!({ "system": LOINC, "code": code, "display": display })
}

fn quantity(value: f64, e: &CodeEntry) -> Value {
    json!({ "value": value, "unit": e.unit, "system": UCUM, "code": e.unit })
}

/// The elements every Observation here shares; `name` is the code's display.
fn base(
    id: &str,
    record_ids: &[&str],
    code: &str,
    name: &str,
    patient: &Address,
    r: &Reading,
) -> Value {
    let (category, category_display, profile) = filing(code);
    let mut codings = vec![coding(code, name)];
    if code == "59408-5" {
        codings.insert(
            0,
            coding(OXYGEN_SATURATION, "Oxygen saturation in Arterial blood"),
        );
    }
    let mut o = json!({
        "resourceType": "Observation",
        "id": fhir_id(id),
        "identifier": record_ids.iter().map(|r| json!({ "system": RECORD_ID, "value": r })).collect::<Vec<_>>(),
        "status": "final",
        "category": [{ "coding": [{ "system": CATEGORY, "code": category, "display": category_display }] }],
        "code": { "coding": codings, "text": name },
        "subject": { "reference": format!("Patient/{patient}") },
        "effectiveDateTime": instant_ms(r.measured_at_ms),
        "device": { "reference": format!("Device/{}", fhir_id(&r.device_id)), "display": r.device_id }
    });
    if let Some(p) = profile {
        o["meta"] = json!({ "profile": [format!("{PROFILE}{p}")] });
    }
    o
}

/// One Observation for a reading; `None` when its code is no measurement
/// of the directory (ingest refused those; a record that says otherwise is
/// not exported under a code nobody checked).
pub fn observation(record: &Record, patient: &Address, codes: &Measurements) -> Option<Value> {
    let r = record.reading;
    let e = codes.get(&r.loinc)?;
    let mut o = base(
        record.record_id,
        &[record.record_id],
        &r.loinc,
        &e.display,
        patient,
        r,
    );
    o["valueQuantity"] = quantity(r.value, e);
    Some(o)
}

/// A blood-pressure panel from a cuff's systolic and diastolic readings;
/// `None` unless the directory holds both codes.
fn panel(
    systolic: &Record,
    diastolic: &Record,
    patient: &Address,
    codes: &Measurements,
) -> Option<Value> {
    let (s, d) = (
        codes.get(&systolic.reading.loinc)?,
        codes.get(&diastolic.reading.loinc)?,
    );
    // An id of its own: the systolic reading alone is another Observation.
    let mut o = base(
        &format!("bp-{}", systolic.record_id),
        &[systolic.record_id, diastolic.record_id],
        "85354-9",
        "blood pressure",
        patient,
        systolic.reading,
    );
    o["code"] = json!({
        "coding": [coding("85354-9", "Blood pressure panel with all children optional")],
        "text": "blood pressure"
    });
    let component = |r: &Record, e: &CodeEntry| {
        json!({
            "code": { "coding": [coding(&r.reading.loinc, &e.display)], "text": e.display },
            "valueQuantity": quantity(r.reading.value, e)
        })
    };
    o["component"] = json!([component(systolic, s), component(diastolic, d)]);
    Some(o)
}

/// Observations for a patient's readings, in their order: a systolic and a
/// diastolic reading of one device at one instant become one panel.
pub fn observations(records: &[Record], patient: &Address, codes: &Measurements) -> Vec<Value> {
    let mut used = vec![false; records.len()];
    let mut out = Vec::with_capacity(records.len());
    for i in 0..records.len() {
        if used[i] {
            continue;
        }
        let r = records[i].reading;
        let partner = (r.loinc == SYSTOLIC || r.loinc == DIASTOLIC)
            .then(|| {
                (0..records.len()).find(|&j| {
                    let o = records[j].reading;
                    !used[j]
                        && j != i
                        && o.device_id == r.device_id
                        && o.measured_at_ms == r.measured_at_ms
                        && (o.loinc == SYSTOLIC || o.loinc == DIASTOLIC)
                        && o.loinc != r.loinc
                })
            })
            .flatten();
        used[i] = true;
        match partner {
            Some(j) => {
                used[j] = true;
                let (s, d) = if r.loinc == SYSTOLIC {
                    (&records[i], &records[j])
                } else {
                    (&records[j], &records[i])
                };
                match panel(s, d, patient, codes) {
                    Some(p) => out.push(p),
                    None => out.extend(
                        [s, d]
                            .into_iter()
                            .filter_map(|r| observation(r, patient, codes)),
                    ),
                }
            }
            None => out.extend(observation(&records[i], patient, codes)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vitals::vital;
    use ehr_ledger::crypto::SecretKey;

    fn reading(device: &str, seq: u64, loinc: &str, value: f64) -> Reading {
        Reading {
            device_id: device.into(),
            seq,
            measured_at_ms: 1_767_225_600_123,
            loinc: loinc.into(),
            value,
            unit: vital(loinc).unwrap().unit.into(),
        }
    }

    #[test]
    fn a_heart_rate_claims_its_profile_with_a_ucum_quantity() {
        let patient = SecretKey::from_seed("alice").address();
        let r = reading("hr-1", 7, "8867-4", 72.0);
        let o = observation(
            &Record {
                record_id: "hr-1:7",
                reading: &r,
            },
            &patient,
            &Measurements::seed(),
        )
        .unwrap();
        assert_eq!(
            o["meta"]["profile"][0],
            "http://hl7.org/fhir/StructureDefinition/heartrate"
        );
        assert_eq!(o["id"], "hr-1-7");
        assert_eq!(o["identifier"][0]["value"], "hr-1:7");
        assert_eq!(o["valueQuantity"]["code"], "/min");
        assert_eq!(o["effectiveDateTime"], "2026-01-01T00:00:00.123Z");
        assert_eq!(o["subject"]["reference"], format!("Patient/{patient}"));
    }

    #[test]
    fn oxygen_saturation_carries_the_arterial_code_the_profile_requires() {
        let patient = SecretKey::from_seed("alice").address();
        let r = reading("ox-1", 1, "59408-5", 97.0);
        let o = observation(
            &Record {
                record_id: "ox-1:1",
                reading: &r,
            },
            &patient,
            &Measurements::seed(),
        )
        .unwrap();
        let codes: Vec<_> = o["code"]["coding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["2708-6", "59408-5"]);
    }

    #[test]
    fn a_cuffs_two_readings_become_one_panel_and_glucose_is_a_lab_result() {
        let patient = SecretKey::from_seed("alice").address();
        let d = reading("bp-1", 2, DIASTOLIC, 80.0);
        let s = reading("bp-1", 1, SYSTOLIC, 120.0);
        let g = reading("gl-1", 1, "2339-0", 95.0);
        let lone = Reading {
            measured_at_ms: 5,
            ..reading("bp-1", 3, SYSTOLIC, 118.0)
        };
        let recs = [
            Record {
                record_id: "bp-1:2",
                reading: &d,
            },
            Record {
                record_id: "gl-1:1",
                reading: &g,
            },
            Record {
                record_id: "bp-1:1",
                reading: &s,
            },
            Record {
                record_id: "bp-1:3",
                reading: &lone,
            },
        ];
        let out = observations(&recs, &patient, &Measurements::seed());
        assert_eq!(out.len(), 3, "{out:#?}");
        let bp = &out[0];
        assert_eq!(bp["code"]["coding"][0]["code"], "85354-9");
        assert_eq!(bp["component"][0]["code"]["coding"][0]["code"], SYSTOLIC);
        assert_eq!(bp["component"][0]["valueQuantity"]["value"], 120.0);
        assert_eq!(bp["component"][1]["valueQuantity"]["value"], 80.0);
        assert!(bp.get("valueQuantity").is_none());
        assert_eq!(bp["identifier"].as_array().unwrap().len(), 2);
        assert_eq!(bp["id"], "bp-bp-1-1", "not the systolic reading's own id");
        assert_eq!(out[1]["category"][0]["coding"][0]["code"], "laboratory");
        assert!(out[1].get("meta").is_none());
        assert_eq!(out[2]["valueQuantity"]["value"], 118.0, "a lone systolic");
    }

    #[test]
    fn a_code_outside_the_directory_is_not_exported() {
        let patient = SecretKey::from_seed("alice").address();
        let mut r = reading("hr-1", 7, "8867-4", 72.0);
        r.loinc = "1234-4".into();
        let record = Record {
            record_id: "hr-1:7",
            reading: &r,
        };
        assert!(observation(&record, &patient, &Measurements::seed()).is_none());
    }

    #[test]
    fn a_measurement_governance_added_is_named_as_the_directory_names_it() {
        let patient = SecretKey::from_seed("alice").address();
        let added = CodeEntry {
            system: ehr_ledger::proto::CodeSystem::Loinc as i32,
            code: "2708-6".into(),
            display: "oxygen saturation in arterial blood".into(),
            unit: "%".into(),
            min: 50.0,
            max: 100.0,
        };
        let r = Reading {
            loinc: "2708-6".into(),
            unit: "%".into(),
            ..reading("ox-9", 1, "59408-5", 96.0)
        };
        let record = Record {
            record_id: "ox-9:1",
            reading: &r,
        };
        assert!(observation(&record, &patient, &Measurements::seed()).is_none());
        let o = observation(&record, &patient, &Measurements::from_entries([added])).unwrap();
        assert_eq!(o["code"]["text"], "oxygen saturation in arterial blood");
        assert_eq!(o["valueQuantity"]["code"], "%");
    }
}
