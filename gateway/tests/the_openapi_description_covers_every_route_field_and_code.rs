//! docs/gateway.openapi.yaml is the API's description for other languages: it
//! must name every route, every field the gateway sends and every error code
//! with its status.

use ehr_client::read_path::api::*;
use ehr_gateway::error::ErrorCode;

fn spec() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/gateway.openapi.yaml"
    ))
    .expect("docs/gateway.openapi.yaml")
}

fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                keys(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

/// In the error codes' list, the status of the line (or of the line a
/// continuation line belongs to) that names `code`.
fn status_described_for(spec: &str, code: &str) -> Option<u16> {
    let mut status = None;
    for line in spec.lines().map(str::trim_start) {
        if let Some(n) = line.get(..3).and_then(|d| d.parse::<u16>().ok()) {
            status = Some(n);
        } else if !line.starts_with(|c: char| c.is_ascii_lowercase()) {
            status = None;
        }
        let named = line
            .split(|c: char| c == ',' || c == ';' || c == '.' || c.is_whitespace())
            .any(|w| w == code);
        if named && status.is_some() {
            return status;
        }
    }
    None
}

#[test]
fn the_openapi_description_covers_every_route_field_and_code() {
    let spec = spec();
    for route in [
        "/health:",
        "/chain:",
        "/v1/patients/{patient}/records:",
        "/v1/patients/{patient}/wrapped-keys:",
        "/v1/patients/{patient}/documents:",
        "/v1/patients/{patient}/recovered-keys:",
        "/v1/codes:",
        "/v1/codes/{system}/{code}:",
    ] {
        assert!(spec.contains(route), "{route} is not described");
    }
    for code in ErrorCode::ALL {
        assert_eq!(
            status_described_for(&spec, code.as_str()),
            Some(code.status().as_u16()),
            "code {} is not described under its status",
            code.as_str()
        );
    }
    let item = RecordItem {
        record_id: "hr-1:1".into(),
        seq: 1,
        category: "vitals".into(),
        device_id: "hr-1".into(),
        loinc: "8867-4".into(),
        measured_at_ms: 0,
        ciphertext: String::new(),
        ciphertext_sha256: String::new(),
        key_id: "hr-1:1".into(),
        wrapped_key: None,
        key_source: None,
        anchor: Some(AnchorProof {
            service: String::new(),
            batch_id: 1,
            leaf_index: 0,
            leaf_count: 1,
            merkle_root: String::new(),
            path: vec![],
            height: 1,
        }),
        erasure_id: Some(1),
    };
    let samples = [
        serde_json::to_value(RecordsPage {
            patient: String::new(),
            category: String::new(),
            basis: String::new(),
            height: 0,
            records: vec![item],
            next_after: None,
            disclosure_ids: vec![],
        })
        .unwrap(),
        serde_json::to_value(KeysPage {
            patient: String::new(),
            keys: vec![OwnKey {
                key_id: String::new(),
                seq: 0,
                records: 1,
                category: String::new(),
                wrapped_key: String::new(),
            }],
            next_after: None,
        })
        .unwrap(),
        serde_json::to_value(WrapUpload {
            reader: String::new(),
            wraps: vec![NewWrap {
                key_id: String::new(),
                wrapped_key: String::new(),
            }],
        })
        .unwrap(),
        serde_json::to_value(WrapResult {
            stored: 0,
            already_present: 0,
        })
        .unwrap(),
        serde_json::to_value(RecoveredKeys {
            rewrapped: 0,
            records: 0,
            unopened: 0,
            next_after: Some(1),
        })
        .unwrap(),
        serde_json::to_value(DocumentUpload {
            record_id: String::new(),
            category: String::new(),
            ciphertext: String::new(),
            wraps: vec![ReaderWrap {
                reader: String::new(),
                wrapped_key: String::new(),
            }],
            order_id: Some(1),
            amendment_id: Some(1),
        })
        .unwrap(),
        serde_json::to_value(DocumentStored {
            record_id: String::new(),
            seq: 0,
            ciphertext_sha256: String::new(),
        })
        .unwrap(),
        serde_json::to_value(DocumentsPage {
            patient: String::new(),
            category: String::new(),
            basis: String::new(),
            height: 0,
            documents: vec![DocumentItem {
                record_id: String::new(),
                seq: 0,
                category: String::new(),
                author: String::new(),
                stored_at_ms: 0,
                ciphertext: String::new(),
                ciphertext_sha256: String::new(),
                wrapped_key: None,
                key_source: None,
                erasure_id: Some(1),
            }],
            next_after: None,
            disclosure_ids: vec![],
        })
        .unwrap(),
        serde_json::to_value(ApiError {
            code: String::new(),
            message: String::new(),
        })
        .unwrap(),
        serde_json::to_value(CodeSearch {
            codes: vec![CodeItem {
                system: "loinc".into(),
                code: String::new(),
                display: String::new(),
                unit: Some(String::new()),
                min: Some(0.0),
                max: Some(1.0),
                status: "retired".into(),
                added_by: 0,
                retired_by: Some(1),
                reason: Some(String::new()),
                replaced_by: Some(String::new()),
            }],
        })
        .unwrap(),
    ];
    let mut fields = vec![];
    samples.iter().for_each(|s| keys(s, &mut fields));
    for f in fields {
        assert!(
            spec.contains(&format!("{f}:")),
            "field {f} is not described"
        );
    }
}
