//! FHIR search parameters as the API reads them: `patient`, `code`, `date`,
//! `_count` and the page cursor `_page`. Parameters the API does not apply
//! are ignored, as FHIR asks, and left out of the answer's `self` link, which
//! says what was applied.

use ehr_ledger::crypto::Address;

use crate::outcome::FhirError;

/// Answers hold at most this many matches; the default is smaller.
pub const MAX_COUNT: i64 = 1000;
pub const DEFAULT_COUNT: i64 = 50;

pub struct SearchParams {
    pairs: Vec<(String, String)>,
}

/// A request's search parameters; a query string that does not decode is
/// refused as an OperationOutcome, like every other refusal.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SearchParams {
    type Rejection = FhirError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, FhirError> {
        let axum::extract::Query(pairs) =
            axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(|e| {
                    FhirError::invalid(
                        "bad_query",
                        format!("the query string does not decode ({e}): write name=value pairs, percent-encoded"),
                    )
                })?;
        Ok(SearchParams::new(pairs))
    }
}

impl SearchParams {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        SearchParams { pairs }
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn one<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>, FhirError> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(FhirError::invalid(
                "repeated_parameter",
                format!("{name} is given more than once: give it once"),
            ));
        }
        Ok(first)
    }

    /// `patient=ehr1…`, `Patient/ehr1…` or a full URL ending so: required.
    pub fn patient(&self) -> Result<Address, FhirError> {
        let value = self.one("patient")?.ok_or_else(|| {
            FhirError::invalid(
                "patient_required",
                "say whose records: patient=<the patient's id (ehr1…)>",
            )
        })?;
        patient_id(value)
    }

    /// `_count`: 1..=1000, 50 when absent.
    pub fn count(&self) -> Result<i64, FhirError> {
        let Some(v) = self.one("_count")? else {
            return Ok(DEFAULT_COUNT);
        };
        v.parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_COUNT).contains(n))
            .ok_or_else(|| {
                FhirError::invalid(
                    "bad_count",
                    format!("_count={v:?}: ask for 1 to {MAX_COUNT} results a page"),
                )
            })
    }

    /// `_page`: the cursor a `next` link carries.
    pub fn page(&self) -> Result<Option<i64>, FhirError> {
        self.one("_page")?
            .map(|v| {
                v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    FhirError::invalid(
                        "bad_page",
                        format!("_page={v:?} is not a cursor this API gave: follow the next link as it is"),
                    )
                })
            })
            .transpose()
    }

    /// `code=[system|]code,…`: the LOINC codes asked for, or `None` for any.
    pub fn codes(&self) -> Result<Option<Vec<String>>, FhirError> {
        let Some(list) = self.one("code")? else {
            return Ok(None);
        };
        let mut codes = Vec::new();
        for token in list.split(',') {
            let code = match token.split_once('|') {
                Some(("", code)) => code,
                Some((system, code)) if system == ehr_client::fhir::LOINC => code,
                Some((system, _)) => {
                    return Err(FhirError::invalid(
                        "unknown_code_system",
                        format!("code system {system:?} is not one this API holds: its codes are LOINC (http://loinc.org)"),
                    ))
                }
                None => token,
            };
            if code.is_empty() {
                return Err(FhirError::invalid(
                    "bad_code",
                    format!("code={list:?}: an empty code"),
                ));
            }
            codes.push(code.to_string());
        }
        Ok(Some(codes))
    }

    /// Every `date=` as one time range `[from, to)` in unix seconds.
    pub fn dates(&self) -> Result<(Option<i64>, Option<i64>), FhirError> {
        let (mut from, mut to) = (None::<i64>, None::<i64>);
        for value in self.all("date") {
            let (prefix, rest) = match value.get(..2) {
                Some(p) if p.bytes().all(|b| b.is_ascii_lowercase()) => (p, &value[2..]),
                _ => ("eq", value),
            };
            let (start, end) = date_range(rest).ok_or_else(|| {
                FhirError::invalid(
                    "bad_date",
                    format!("date={value:?}: write a prefix (eq, ge, gt, le, lt) and a date such as ge2026-11-24 or lt2026-11-24T08:00:00Z (a + in a zone is written %2B in a URL)"),
                )
            })?;
            let (lower, upper) = match prefix {
                "eq" => (Some(start), Some(end)),
                "ge" => (Some(start), None),
                "gt" => (Some(end), None),
                "le" => (None, Some(end)),
                "lt" => (None, Some(start)),
                other => {
                    return Err(FhirError::invalid(
                        "unsupported_date_prefix",
                        format!(
                            "date prefix {other:?} is not supported here: use eq, ge, gt, le or lt"
                        ),
                    ))
                }
            };
            from = from.max(lower);
            to = match (to, upper) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok((from, to))
    }

    /// The parameters that were applied, as a query string for links.
    pub fn applied(&self, names: &[&str]) -> String {
        self.pairs
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={}", escape(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A patient reference as FHIR clients write it.
pub fn patient_id(value: &str) -> Result<Address, FhirError> {
    let id = value.rsplit('/').next().unwrap_or(value);
    id.parse::<Address>().map_err(|_| {
        FhirError::invalid(
            "bad_patient",
            format!(
                "{value:?} is not a patient of this ledger: a patient's id is their address, ehr1…"
            ),
        )
    })
}

/// Percent-encodes what a query value may not hold as it is.
fn escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The span a FHIR date or dateTime names: a year, a month, a day or a
/// second, as `[start, end)` in unix seconds.
fn date_range(s: &str) -> Option<(i64, i64)> {
    let midnight = |d: &str| ehr_ledger::time::parse_rfc3339(&format!("{d}T00:00:00Z"));
    match s.len() {
        4 => {
            let y: i64 = s.parse().ok()?;
            Some((
                midnight(&format!("{y:04}-01-01"))?,
                midnight(&format!("{:04}-01-01", y + 1))?,
            ))
        }
        7 => {
            let (y, m) = s.split_once('-')?;
            let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Some((
                midnight(&format!("{y:04}-{m:02}-01"))?,
                midnight(&format!("{ny:04}-{nm:02}-01"))?,
            ))
        }
        10 => {
            let start = midnight(s)?;
            Some((start, start + 86_400))
        }
        _ => {
            // A dateTime must say its zone: Z or ±hh:mm.
            let (local, offset) = if let Some(t) = s.strip_suffix('Z') {
                (t, 0)
            } else {
                let cut = s.len().checked_sub(6)?;
                let (t, zone) = (s.get(..cut)?, s.get(cut..)?);
                let sign = match zone.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let (h, m) = zone[1..].split_once(':')?;
                let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
                if h > 14 || m > 59 {
                    return None;
                }
                (t, sign * (h * 3600 + m * 60))
            };
            // YYYY-MM-DDThh:mm:ss, perhaps a fraction, and nothing else.
            let fraction = local.get(19..)?;
            let fraction_ok = fraction.is_empty()
                || fraction
                    .strip_prefix('.')
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            if local.len() < 19 || !fraction_ok {
                return None;
            }
            let at = ehr_ledger::time::parse_rfc3339(&format!("{local}Z"))? - offset;
            Some((at, at + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> SearchParams {
        SearchParams::new(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn dates_intersect_into_one_range() {
        let p = params(&[("date", "ge2026-01-01"), ("date", "lt2026-02")]);
        assert_eq!(
            p.dates().unwrap(),
            (Some(1_767_225_600), Some(1_767_225_600 + 31 * 86_400))
        );
        let p = params(&[("date", "2026-01-01")]);
        assert_eq!(
            p.dates().unwrap(),
            (Some(1_767_225_600), Some(1_767_225_600 + 86_400))
        );
        let p = params(&[("date", "gt2026-01-01T02:00:00+02:00")]);
        assert_eq!(p.dates().unwrap(), (Some(1_767_225_601), None));
        for bad in [
            "ge2026-13-01",
            "yesterday",
            "ne2026-01-01",
            "ge2026-01-01T00:00:00",
            "ge2026-01-01T00:00:00+99:00",
            "ge2026-01-01T00:00:00+02:00Z",
            "gex\u{e9}12345",
            "ge2026-01-01T00:00:00.Z",
        ] {
            assert!(params(&[("date", bad)]).dates().is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_patients_and_counts_are_read_as_fhir_writes_them() {
        let p = params(&[
            ("code", "http://loinc.org|8867-4,2708-6"),
            ("_count", "100"),
        ]);
        assert_eq!(p.codes().unwrap().unwrap(), ["8867-4", "2708-6"]);
        assert_eq!(p.count().unwrap(), 100);
        assert!(params(&[("code", "http://snomed.info/sct|1234")])
            .codes()
            .is_err());
        assert!(params(&[("_count", "0")]).count().is_err());
        assert!(params(&[("_count", "5000")]).count().is_err());
        assert!(params(&[("_page", "-1")]).page().is_err());
        let alice = ehr_ledger::crypto::SecretKey::from_seed("alice").address();
        for form in [
            alice.to_string(),
            format!("Patient/{alice}"),
            format!("https://h/fhir/Patient/{alice}"),
        ] {
            assert_eq!(patient_id(&form).unwrap(), alice);
        }
        assert!(patient_id("Patient/42").is_err());
        assert!(params(&[]).patient().is_err());
        assert!(params(&[("patient", "a"), ("patient", "b")])
            .patient()
            .is_err());
    }
}
