//! HAPI FHIR, the judge of the FHIR the project emits: its R4 validator and
//! its generic client, from the jars `scripts/setup.sh` copies from Maven
//! Central into `target/engines/fhir/libs`, run by `tests/fhir/FhirCheck.java`
//! with the machine's Java 17. One JVM validates a whole set: loading R4's
//! definitions costs seconds.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::Error;

/// The jars: `FHIR_LIBS`, else `target/engines/fhir/libs`.
pub fn libs() -> Result<PathBuf, Error> {
    let dir = std::env::var_os("FHIR_LIBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::engines_dir().join("fhir/libs"));
    let has_validator = std::fs::read_dir(&dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("hapi-fhir-validation-8")
        })
    });
    if has_validator {
        Ok(dir)
    } else {
        Err(Error(format!(
            "HAPI FHIR's validator is not installed in {}: run scripts/setup.sh (it copies the jars from Maven Central)",
            dir.display()
        )))
    }
}

fn program() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fhir/FhirCheck.java")
}

fn run(args: &[&str]) -> Result<String, Error> {
    let classpath = format!("{}/*", libs()?.display());
    let out = Command::new("java")
        .arg("-cp")
        .arg(classpath)
        .arg(program())
        .args(args)
        .output()
        .map_err(|e| Error(format!("java cannot be started: {e}")))?;
    if !out.status.success() {
        return Err(Error(format!(
            "HAPI FHIR ({}) failed: {}{}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What the validator said of a set of resources.
#[derive(Debug, Default)]
pub struct Validation {
    /// Each resource's name and its errors (empty when valid).
    pub resources: Vec<(String, Vec<String>)>,
    /// Milliseconds for the first resource (loading R4's definitions) and the rest.
    pub first_ms: u64,
    pub rest_ms: u64,
    /// Resources in all but the first file, each entry of a Bundle counted.
    pub rest_resources: usize,
}

impl Validation {
    /// Every error, as "resource: location: message".
    pub fn errors(&self) -> Vec<String> {
        self.resources
            .iter()
            .flat_map(|(name, errs)| errs.iter().map(move |e| format!("{name}: {e}")))
            .collect()
    }

    /// Resources validated per second once the definitions are loaded
    /// (each entry of a Bundle counted).
    pub fn per_second(&self) -> f64 {
        self.rest_resources as f64 * 1000.0 / (self.rest_ms.max(1) as f64)
    }
}

/// Validates each `(name, resource)` against R4 core and the profiles it
/// claims; `dir` is scratch space for the files.
pub fn validate(dir: &Path, resources: &[(String, Value)]) -> Result<Validation, Error> {
    let set = dir.join("fhir-validate");
    let _ = std::fs::remove_dir_all(&set);
    std::fs::create_dir_all(&set).map_err(|e| Error(format!("{}: {e}", set.display())))?;
    for (i, (name, r)) in resources.iter().enumerate() {
        let file = set.join(format!("{i:05}-{}.json", file_safe(name)));
        std::fs::write(&file, serde_json::to_vec_pretty(r).unwrap_or_default())
            .map_err(|e| Error(format!("{}: {e}", file.display())))?;
    }
    let out = run(&["validate", &set.to_string_lossy()])?;
    let mut v = Validation {
        rest_resources: resources
            .iter()
            .skip(1)
            .map(|(_, r)| 1 + r["entry"].as_array().map_or(0, Vec::len))
            .sum(),
        ..Validation::default()
    };
    for line in out.lines() {
        let j: Value = serde_json::from_str(line)
            .map_err(|e| Error(format!("the validator said {line:?}: {e}")))?;
        if let Some(file) = j["file"].as_str() {
            let i: usize = file[..5].parse().unwrap_or(0);
            let name = resources.get(i).map_or(file, |(n, _)| n.as_str());
            let errors = j["errors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            v.resources.push((name.to_string(), errors));
        } else {
            v.first_ms = j["first_ms"].as_u64().unwrap_or(0);
            v.rest_ms = j["rest_ms"].as_u64().unwrap_or(0);
        }
    }
    if v.resources.len() != resources.len() {
        return Err(Error(format!(
            "the validator judged {} of {} resources",
            v.resources.len(),
            resources.len()
        )));
    }
    Ok(v)
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect()
}

/// Where HAPI's generic client finds a FHIR API and how it proves itself.
pub struct ClientRun<'a> {
    pub base: &'a str,
    pub ca: &'a Path,
    pub cert: &'a Path,
    pub key: &'a Path,
    pub patient: &'a str,
    pub code: &'a str,
    pub count: u32,
    /// Where each response is written.
    pub out: &'a Path,
}

/// Runs HAPI's generic client against a FHIR API (see FhirCheck.java): its
/// JSON summary, with every response's validation errors under `invalid`.
pub fn client(c: &ClientRun) -> Result<Value, Error> {
    let count = c.count.to_string();
    let out = run(&[
        "client",
        c.base,
        &c.ca.to_string_lossy(),
        &c.cert.to_string_lossy(),
        &c.key.to_string_lossy(),
        c.patient,
        c.code,
        &count,
        &c.out.to_string_lossy(),
    ])?;
    let last = out.lines().last().unwrap_or("");
    serde_json::from_str(last).map_err(|e| Error(format!("the client said {out:?}: {e}")))
}
