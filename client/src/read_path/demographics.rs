//! Who a patient is — their name, birth date and each hospital's medical
//! record number — sealed like a clinical document (category
//! `demographics`): written by the patient, their guardian or the front desk
//! of the hospital that enrolled them, readable by whoever may read any of
//! their records. The newest one that verifies is the current one.

use serde::{Deserialize, Serialize};

use super::client::GatewayClient;
use super::documents::Content;
use super::open::ChainVerifier;
use super::verified::check_document;
use ehr_ledger::crypto::{Address, SecretKey};

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

/// The patient's current demographics as `reader` can open and verify them:
/// of the versions that verify, the one anchored last (by the chain's height,
/// not the gateway's word); `None` when none was sealed, or none is readable
/// by them. Reading them is a disclosure, logged on chain for `purpose`
/// (`None`: the one the reader's basis implies).
pub async fn current(
    gateway: &GatewayClient,
    reader: &SecretKey,
    patient: &Address,
    chain: &mut ChainVerifier,
    purpose: Option<&str>,
) -> Result<Option<Demographics>, super::client::GatewayError> {
    let mut newest: Option<((u64, i64), Demographics)> = None;
    let mut after = None;
    loop {
        let page = gateway
            .documents_for(patient, "demographics", after, purpose)
            .await?;
        let last = page.documents.last().map(|d| d.seq);
        for item in page.documents {
            let c = check_document(item, reader, patient, chain).await;
            // A version an accepted amendment superseded is not who they are.
            let superseded = !c.links.superseded_by.is_empty();
            if let (Some(Content::Demographics(d)), Ok(height), false) = (
                c.verified().map(|doc| &doc.content),
                &c.anchored_at,
                superseded,
            ) {
                let at = (*height, c.item.seq);
                if newest.as_ref().is_none_or(|(seen, _)| *seen < at) {
                    newest = Some((at, d.clone()));
                }
            }
        }
        // A page must move forward: a gateway that repeats one is not followed.
        match (page.next_after, last) {
            (Some(n), Some(_)) if after.is_none_or(|a| n > a) => after = Some(n),
            _ => break,
        }
    }
    Ok(newest.map(|(_, d)| d))
}

/// A patient's demographics for the crate's tests.
#[cfg(test)]
pub(crate) fn alice() -> Demographics {
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

#[cfg(test)]
mod tests {
    use super::*;

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
