//! The Patient and Device resources the Observations point at.
//!
//! A Patient's id is their ledger address. What a person is called, born and
//! numbered by each hospital is health data: it travels sealed (a document
//! the front desk or the patient encrypts, `Demographics`), and appears here
//! only for a reader who opened it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{fhir_id, LEDGER_ADDRESS};
use ehr_ledger::crypto::Address;

/// A medical record number and the member organisation that issued it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mrn {
    /// The organisation's id on chain (`general`, `st-mary`…).
    pub organisation: String,
    pub value: String,
}

/// A patient's demographics, as sealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demographics {
    pub given: Vec<String>,
    pub family: String,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// FHIR's administrative gender: male, female, other or unknown.
    pub gender: Option<String>,
    #[serde(default)]
    pub mrns: Vec<Mrn>,
}

impl Demographics {
    /// "Given Family", as a person says it.
    pub fn full_name(&self) -> String {
        let mut parts: Vec<&str> = self.given.iter().map(String::as_str).collect();
        parts.push(&self.family);
        parts.retain(|p| !p.is_empty());
        parts.join(" ")
    }

    /// Why these demographics cannot be sealed, if they cannot: a sentence.
    pub fn problem(&self) -> Option<String> {
        if self.family.trim().is_empty() && self.given.iter().all(|g| g.trim().is_empty()) {
            return Some("a patient needs a family or a given name".into());
        }
        let too_long = |s: &str| s.chars().count() > 200 || s.chars().any(char::is_control);
        if too_long(&self.family) || self.given.iter().any(|g| too_long(g)) {
            return Some("a name is at most 200 characters, without control characters".into());
        }
        if let Some(d) = &self.birth_date {
            if !is_date(d) {
                return Some(format!(
                    "birth date {d:?} is not a date written YYYY-MM-DD, such as 1984-03-07"
                ));
            }
        }
        if let Some(g) = &self.gender {
            if !["male", "female", "other", "unknown"].contains(&g.as_str()) {
                return Some(format!(
                    "gender {g:?} is not one of male, female, other or unknown"
                ));
            }
        }
        for m in &self.mrns {
            if m.value.trim().is_empty() || m.value.len() > 64 || m.organisation.is_empty() {
                return Some(format!(
                    "medical record number {:?} of {:?}: 1 to 64 characters and an organisation are needed",
                    m.value, m.organisation
                ));
            }
        }
        None
    }
}

fn is_date(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&d[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&d[8..10].parse::<u32>().unwrap_or(0))
}

/// The identifier system of an organisation's medical record numbers.
pub fn mrn_system(organisation: &str) -> String {
    format!("urn:ehr-ledger:mrn:{}", fhir_id(organisation))
}

/// The Patient: their address always; name, birth date, gender and record
/// numbers when the reader could open their demographics.
pub fn patient(address: &Address, demographics: Option<&Demographics>) -> Value {
    let mut identifiers = vec![json!({ "system": LEDGER_ADDRESS, "value": address.to_string() })];
    let mut p = json!({ "resourceType": "Patient", "id": address.to_string(), "active": true });
    if let Some(d) = demographics {
        identifiers.extend(d.mrns.iter().map(|m| {
            json!({
                "use": "usual",
                "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical record number" }] },
                "system": mrn_system(&m.organisation),
                "value": m.value,
                "assigner": { "display": m.organisation }
            })
        }));
        let mut name = json!({ "use": "official", "text": d.full_name() });
        if !d.family.is_empty() {
            name["family"] = json!(d.family);
        }
        if !d.given.is_empty() {
            name["given"] = json!(d.given);
        }
        p["name"] = json!([name]);
        if let Some(g) = &d.gender {
            p["gender"] = json!(g);
        }
        if let Some(b) = &d.birth_date {
            p["birthDate"] = json!(b);
        }
    }
    p["identifier"] = json!(identifiers);
    p
}

/// The Device a reading came from, bound to `patient` on chain.
pub fn device(device_id: &str, patient: &Address) -> Value {
    json!({
        "resourceType": "Device",
        "id": fhir_id(device_id),
        "identifier": [{ "system": "urn:ehr-ledger:device", "value": device_id }],
        "status": "active",
        "deviceName": [{ "name": device_id, "type": "user-friendly-name" }],
        "patient": { "reference": format!("Patient/{patient}") }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehr_ledger::crypto::SecretKey;

    fn alice() -> Demographics {
        Demographics {
            given: vec!["Alice".into(), "M.".into()],
            family: "Martin".into(),
            birth_date: Some("1984-03-07".into()),
            gender: Some("female".into()),
            mrns: vec![Mrn {
                organisation: "general".into(),
                value: "G-00042".into(),
            }],
        }
    }

    #[test]
    fn a_patient_is_named_only_from_opened_demographics() {
        let a = SecretKey::from_seed("alice").address();
        let bare = patient(&a, None);
        assert_eq!(bare["id"], a.to_string());
        assert!(bare.get("name").is_none());
        let p = patient(&a, Some(&alice()));
        assert_eq!(p["name"][0]["text"], "Alice M. Martin");
        assert_eq!(p["birthDate"], "1984-03-07");
        assert_eq!(p["identifier"][1]["value"], "G-00042");
        assert_eq!(p["identifier"][1]["system"], "urn:ehr-ledger:mrn:general");
    }

    #[test]
    fn bad_demographics_are_refused_with_a_sentence() {
        assert_eq!(alice().problem(), None);
        for bad in [
            Demographics {
                birth_date: Some("07/03/1984".into()),
                ..alice()
            },
            Demographics {
                birth_date: Some("1984-13-07".into()),
                ..alice()
            },
            Demographics {
                gender: Some("f".into()),
                ..alice()
            },
            Demographics {
                given: vec![],
                family: " ".into(),
                ..alice()
            },
            Demographics {
                family: "x\u{7}".into(),
                ..alice()
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
        }
    }
}
