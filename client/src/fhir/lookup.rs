//! A code of the consortium's directory as FHIR's `CodeSystem/$lookup`
//! answers it: a `Parameters` resource with the system's name, the code's
//! display and its properties — `inactive` (a retired code is still looked
//! up: old records name it), a measurement's UCUM `unit`, and for a retired
//! code what replaces it.

use ehr_ledger::ledger::codes::{name, retirement};
use ehr_ledger::proto::{CodeSystem, Concept, ConceptStatus};
use serde_json::{json, Value};

/// The URI FHIR names each code system by.
pub fn system_uri(system: CodeSystem) -> Option<&'static str> {
    match system {
        CodeSystem::Loinc => Some(super::LOINC),
        CodeSystem::Icd10 => Some("http://hl7.org/fhir/sid/icd-10-cm"),
        CodeSystem::Snomed => Some("http://snomed.info/sct"),
        CodeSystem::Unspecified => None,
    }
}

/// The system a URI names, of those the directory holds.
pub fn system_of_uri(uri: &str) -> Option<CodeSystem> {
    [CodeSystem::Loinc, CodeSystem::Icd10, CodeSystem::Snomed]
        .into_iter()
        .find(|s| system_uri(*s) == Some(uri))
}

fn property(code: &str, value: Value) -> Value {
    let mut part = vec![json!({ "name": "code", "valueCode": code })];
    let mut v = json!({ "name": "value" });
    if let Value::Object(o) = value {
        for (k, x) in o {
            v[k] = x;
        }
    }
    part.push(v);
    json!({ "name": "property", "part": part })
}

/// The `$lookup` answer for `concept`.
pub fn lookup(concept: &Concept) -> Value {
    let e = concept.entry.clone().unwrap_or_default();
    let system = CodeSystem::try_from(e.system).unwrap_or(CodeSystem::Unspecified);
    let retired = concept.status == ConceptStatus::Retired as i32;
    let mut parameters = vec![
        json!({ "name": "name", "valueString": name(system) }),
        json!({ "name": "display", "valueString": e.display }),
        property("inactive", json!({ "valueBoolean": retired })),
    ];
    if !e.unit.is_empty() {
        parameters.push(property("unit", json!({ "valueString": e.unit })));
    }
    if let Some(why) = retirement(concept) {
        parameters.push(property("retired", json!({ "valueString": why })));
        if !concept.replaced_by.is_empty() {
            parameters.push(property(
                "replaced-by",
                json!({ "valueCode": concept.replaced_by }),
            ));
        }
    }
    json!({ "resourceType": "Parameters", "parameter": parameters })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehr_ledger::proto::CodeEntry;

    #[test]
    fn a_retired_measurement_is_looked_up_with_its_unit_and_replacement() {
        let c = Concept {
            entry: Some(CodeEntry {
                system: CodeSystem::Loinc as i32,
                code: "2339-0".into(),
                display: "glucose (mass/volume)".into(),
                unit: "mg/dL".into(),
                min: 10.0,
                max: 1000.0,
            }),
            status: ConceptStatus::Retired as i32,
            retired_by: 4,
            reason: "reported in mmol/L".into(),
            replaced_by: "15074-8".into(),
            ..Default::default()
        };
        let p = lookup(&c);
        assert_eq!(p["parameter"][0]["valueString"], "LOINC");
        assert_eq!(p["parameter"][1]["valueString"], "glucose (mass/volume)");
        assert_eq!(p["parameter"][2]["part"][1]["valueBoolean"], true);
        assert_eq!(p["parameter"][3]["part"][1]["valueString"], "mg/dL");
        assert_eq!(p["parameter"][5]["part"][1]["valueCode"], "15074-8");
        assert_eq!(system_of_uri("http://loinc.org"), Some(CodeSystem::Loinc));
        assert_eq!(system_of_uri("http://example.org"), None);
    }
}
