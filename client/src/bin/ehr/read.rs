//! The read path on the reader's side: fetch a patient's records from the
//! gateway, open them locally (decrypt, device signature, Merkle path against
//! the chain), re-wrap a patient's past keys for a new reader, and show the
//! audit trail — as sentences, JSON or HL7 FHIR R4.

use anyhow::anyhow;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use clap::Args;
use ehr_client::codes::Measurements;
use ehr_client::fhir;
use ehr_client::read_path::api::{NewWrap, WrapUpload};
use ehr_client::read_path::client::{GatewayClient, RecordsQuery};
use ehr_client::read_path::open::{ChainVerifier, Opened};
use ehr_client::read_path::verified::check_record;
use ehr_client::read_path::{audit, demographics};
use ehr_client::record_encryption::{unwrap_key, wrap_key};
use ehr_client::rpc::proven::{ProvenState, DEFAULT_MAX_AGE};
use ehr_ledger::crypto::{Address, PublicKey, SecretKey};
use ehr_ledger::proto::{AuditTrail, Participant};
use ehr_ledger::time::rfc3339;
use serde_json::json;

use crate::args::{category_path, CategoryArg, PurposeArg};
use crate::{Ctx, Result};

#[derive(Args)]
pub struct FetchArgs {
    /// The local key of the reader (doctor, patient, guardian…).
    #[arg(long = "as")]
    reader: String,
    #[arg(long)]
    patient: String,
    #[arg(long, value_enum, default_value = "vitals")]
    category: CategoryArg,
    /// Only records measured at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only records measured before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Why you read (logged on chain); by default treatment, or patient_request for the patient.
    #[arg(long, value_enum)]
    purpose: Option<PurposeArg>,
    /// Print the verified records as an HL7 FHIR R4 Bundle of Observations.
    #[arg(long)]
    fhir: bool,
}

#[derive(Args)]
pub struct RewrapArgs {
    /// The patient's (or guardian's) local key.
    #[arg(long = "as")]
    owner: String,
    #[arg(long)]
    patient: String,
    /// The new reader: a grantee or the guardian (address or key name).
    #[arg(long)]
    reader: String,
    #[arg(long, value_enum, default_value = "vitals")]
    category: CategoryArg,
    /// The key that signs the requests, when the one the keys are wrapped
    /// for (--as) was replaced by a rotation: the old key opens, the new signs.
    #[arg(long = "sign-with")]
    sign_with: Option<String>,
}

#[derive(Args)]
pub struct RecoverKeysArgs {
    /// The key the recovery bound (local name).
    #[arg(long = "as")]
    key: String,
    /// The patient's address (her first key's).
    #[arg(long)]
    patient: String,
}

#[derive(Args)]
pub struct AuditArgs {
    pub patient: String,
    /// Entries from this sequence number.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Print the trail as an HL7 FHIR R4 Bundle of AuditEvents.
    #[arg(long)]
    pub fhir: bool,
}

fn purpose_name(p: PurposeArg) -> &'static str {
    match p {
        PurposeArg::Treatment => "treatment",
        PurposeArg::Emergency => "emergency",
        PurposeArg::PatientRequest => "patient_request",
        PurposeArg::Payment => "payment",
        PurposeArg::Operations => "operations",
    }
}

fn time(s: &Option<String>, flag: &str) -> Result<Option<i64>> {
    s.as_ref()
        .map(|t| {
            ehr_ledger::time::parse_rfc3339(t).ok_or_else(|| {
                anyhow!("--{flag} {t:?} is not an RFC 3339 time such as 2026-11-24T08:00:00Z")
            })
        })
        .transpose()
}

fn describe(o: &Opened, names: &Measurements) -> String {
    let r = &o.reading;
    let name = names
        .get(&r.loinc)
        .map_or("measurement", |e| e.display.as_str());
    format!(
        "{} {name} {} {} (LOINC {})",
        rfc3339(r.measured_at_ms.div_euclid(1000)),
        r.value,
        r.unit,
        r.loinc
    )
}

/// Fetches, opens and verifies; true when every record verified.
pub async fn fetch(ctx: &Ctx, a: &FetchArgs) -> Result<bool> {
    let key = ctx.keys.load(&a.reader)?;
    let patient = ctx.address(&a.patient)?;
    let gateway = GatewayClient::new(&ctx.gateway, key.clone());
    let query = RecordsQuery {
        category: category_path(a.category).to_string(),
        from: time(&a.since, "since")?,
        to: time(&a.until, "until")?,
        purpose: a.purpose.map(|p| purpose_name(p).to_string()),
        ..Default::default()
    };
    let page = gateway
        .all_records(&patient, &query)
        .await
        .map_err(|e| anyhow!("the gateway refused: {e}"))?;
    let (mut chain, trust) = ChainVerifier::connect(ctx.rpc.clone(), &ctx.trust_root()?).await?;
    let mut checked = Vec::with_capacity(page.records.len());
    for item in page.records {
        checked.push(check_record(item, &key, &patient, &mut chain).await);
    }
    let all_ok = checked
        .iter()
        .all(|c| c.problem.is_none() && c.anchored_at.is_some());
    // What each reading's code is called: the consortium's directory, proven.
    // Lines of text can do without names; FHIR cannot (no unit, no code).
    let names = match Measurements::proven(
        &ProvenState::over(chain.headers().clone(), DEFAULT_MAX_AGE),
        checked
            .iter()
            .filter_map(|c| c.opened.as_ref())
            .map(|o| o.reading.loinc.as_str()),
    )
    .await
    {
        Ok(names) => names,
        Err(e) if !a.fhir => {
            eprintln!(
                "warning: the readings are not named: the code directory could not be read ({e})"
            );
            Measurements::default()
        }
        Err(e) => return Err(anyhow!("naming the readings from the code directory: {e}")),
    };
    // Who the patient is, when their sealed demographics open for the reader.
    let who = demographics::current(
        &gateway,
        &key,
        &patient,
        &mut chain,
        query.purpose.as_deref(),
    )
    .await
    .ok()
    .flatten();
    let named = who.as_ref().map_or_else(
        || patient.to_string(),
        |d| format!("{} ({patient})", d.full_name()),
    );

    if a.fhir {
        // The Bundle goes to stdout; what its checks rested on, to stderr,
        // so that a trusted sequencer is never silent.
        eprintln!("checks: {trust}");
        // Only what verified; with the Patient and the Devices they point at.
        let verified: Vec<&Opened> = checked.iter().filter_map(|c| c.verified()).collect();
        let records: Vec<fhir::observation::Record> = verified
            .iter()
            .map(|o| fhir::observation::Record {
                record_id: &o.record_id,
                reading: &o.reading,
            })
            .collect();
        let mut resources = vec![fhir::people::patient(&patient, who.as_ref())];
        let mut devices: Vec<&str> = verified
            .iter()
            .map(|o| o.reading.device_id.as_str())
            .collect();
        devices.sort_unstable();
        devices.dedup();
        resources.extend(devices.iter().map(|d| fhir::people::device(d, &patient)));
        resources.extend(fhir::observations(&records, &patient, &names));
        println!(
            "{}",
            serde_json::to_string_pretty(&fhir::collection(resources))?
        );
    } else if ctx.json {
        let records: Vec<_> = checked
            .iter()
            .map(|c| {
                json!({
                    "record_id": c.item.record_id,
                    "verified": c.erased.is_none() && c.problem.is_none() && c.anchored_at.is_some(),
                    "awaiting_anchor": c.awaiting_anchor,
                    "erased": c.erased.as_ref().map(ehr_client::read_path::verified::erased_sentence),
                    "problem": c.problem,
                    "anchored_at": c.anchored_at,
                    "key_source": c.item.key_source,
                    "reading": c.opened.as_ref().map(|o| json!({
                        "device_id": o.reading.device_id,
                        "seq": o.reading.seq,
                        "measured_at_ms": o.reading.measured_at_ms,
                        "loinc": o.reading.loinc,
                        "value": o.reading.value,
                        "unit": o.reading.unit,
                    })),
                })
            })
            .collect();
        let out = json!({
            "patient": page.patient,
            "patient_name": who.as_ref().map(|d| d.full_name()),
            "basis": page.basis,
            "height": page.height,
            "verified": all_ok,
            "trust": trust.to_string(),
            "records": records,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} record(s) of {named} ({}), allowed by {} at height {}; this read is logged in the patient's audit trail",
            checked.len(),
            page.category,
            page.basis,
            page.height
        );
        println!("checks: {trust}");
        for c in &checked {
            if let Some(e) = &c.erased {
                println!(
                    "  ERASED    {}  {}",
                    c.item.record_id,
                    ehr_client::read_path::verified::erased_sentence(e)
                );
                continue;
            }
            let what = c
                .opened
                .as_ref()
                .map_or_else(String::new, |o| describe(o, &names));
            match (&c.problem, c.anchored_at) {
                (None, None) if c.awaiting_anchor => println!(
                    "  PENDING   {}  {what}  (device signature ok; its batch is not anchored yet — fetch again in a few seconds to verify it)",
                    c.item.record_id
                ),
                (None, Some(h)) => println!(
                    "  verified  {}  {what}  (device signature ok, anchored at height {h}{})",
                    c.item.record_id,
                    if c.item.key_source.as_deref() == Some("emergency") {
                        ", key re-wrapped under emergency access"
                    } else {
                        ""
                    }
                ),
                (Some(p), _) => println!("  NOT VERIFIED  {}  {what}: {p}", c.item.record_id),
                (None, None) => println!("  NOT VERIFIED  {}: no anchor", c.item.record_id),
            }
        }
        let failed = checked.iter().filter(|c| c.problem.is_some()).count();
        if failed > 0 {
            println!("{failed} record(s) did not verify: do not rely on them");
        } else if !all_ok {
            println!(
                "every record decrypted and its device signature verified; some await their anchor"
            );
        }
    }
    Ok(all_ok)
}

/// The key to wrap for: the guardian key the patient registered, or the reader's own.
async fn reader_key(ctx: &Ctx, patient: &Address, reader: &Address) -> Result<PublicKey> {
    let p: Participant = ctx
        .rpc
        .query(&format!("/participant/{patient}"))
        .await?
        .ok_or_else(|| anyhow!("{patient} is not registered"))?;
    let r: Option<Participant> = ctx.rpc.query(&format!("/participant/{reader}")).await?;
    // An unregistered guardian reads with the key the patient named; a
    // registered one (and anyone else) with their current key.
    let named = PublicKey::from_bytes(&p.guardian_public_key).filter(|g| g.address() == *reader);
    let r = match (r, named) {
        (Some(r), _) => r,
        (None, Some(g)) => return Ok(g),
        (None, None) => return Err(anyhow!("{reader} is not registered on chain")),
    };
    PublicKey::from_bytes(&r.public_key)
        .ok_or_else(|| anyhow!("{reader} has no usable key on chain"))
}

/// Seals the patient's current demographics again, for everyone who may
/// read them now (a new grantee among them), and anchors them.
async fn reseal_demographics(ctx: &Ctx, owner: &SecretKey, patient: &Address) -> Result<bool> {
    let gateway = GatewayClient::new(&ctx.gateway, owner.clone());
    let (mut chain, _) = ChainVerifier::connect(ctx.rpc.clone(), &ctx.trust_root()?).await?;
    let current = demographics::current(&gateway, owner, patient, &mut chain, None)
        .await
        .map_err(|e| anyhow!("the gateway refused: {e}"))?
        .ok_or_else(|| anyhow!("{patient} has no details you can open to share: seal them first (ehr tx demographics)"))?;
    let content = ehr_client::read_path::documents::Content::Demographics(current);
    let record = crate::clinical::write(ctx, owner, patient, content).await?;
    let kind = ehr_ledger::proto::action::Kind::AnchorRecord(ehr_ledger::proto::AnchorRecord {
        record: Some(record),
    });
    crate::tx::submit(ctx, owner, false, kind).await
}

/// What a re-wrap did: keys stored and already there, keys that did not
/// open, and the records the stored keys open.
#[derive(Default)]
pub struct Rewrapped {
    pub stored: u64,
    pub present: u64,
    pub unreadable: u64,
    pub records: i64,
}

/// Wraps the patient's past data keys of `category` for `reader`'s key:
/// each opened here with `opener` (the patient's or guardian's key that
/// they are wrapped for), the requests signed by `signer` (the same key, or
/// the new one when `opener` was just replaced). Only new wraps leave.
pub async fn rewrap_keys(
    ctx: &Ctx,
    opener: &SecretKey,
    signer: &SecretKey,
    patient: &Address,
    reader: &Address,
    reader_key: &PublicKey,
    category: &str,
) -> Result<Rewrapped> {
    let gateway = GatewayClient::new(&ctx.gateway, signer.clone());
    let mut done = Rewrapped::default();
    let mut after = None;
    loop {
        let page = gateway
            .own_keys(patient, category, reader, after)
            .await
            .map_err(|e| anyhow!("the gateway refused: {e}"))?;
        let mut wraps = Vec::with_capacity(page.keys.len());
        for k in &page.keys {
            let data_key = B64
                .decode(&k.wrapped_key)
                .ok()
                .and_then(|w| unwrap_key(opener, &k.key_id, &w).ok());
            match data_key {
                Some(dk) => {
                    done.records += k.records;
                    wraps.push(NewWrap {
                        key_id: k.key_id.clone(),
                        wrapped_key: B64.encode(wrap_key(reader_key, &k.key_id, &dk)),
                    })
                }
                None => done.unreadable += 1,
            }
        }
        if !wraps.is_empty() {
            let r = gateway
                .upload_wraps(
                    patient,
                    &WrapUpload {
                        reader: reader.to_string(),
                        wraps,
                    },
                )
                .await
                .map_err(|e| anyhow!("the gateway refused the wraps: {e}"))?;
            done.stored += r.stored;
            done.present += r.already_present;
        }
        match page.next_after {
            Some(n) if !page.keys.is_empty() => after = Some(n),
            _ => return Ok(done),
        }
    }
}

/// Wraps the patient's past data keys of a category for a new reader; for
/// demographics, seals them again for everyone who may read them now.
pub async fn rewrap(ctx: &Ctx, a: &RewrapArgs) -> Result<bool> {
    let key = ctx.keys.load(&a.owner)?;
    let patient = ctx.address(&a.patient)?;
    if matches!(a.category, CategoryArg::Demographics) {
        return reseal_demographics(ctx, &key, &patient).await;
    }
    let reader = ctx.address(&a.reader)?;
    let reader_key = reader_key(ctx, &patient, &reader).await?;
    let category = category_path(a.category);
    let signer = match &a.sign_with {
        Some(name) => ctx.keys.load(name)?,
        None => key.clone(),
    };
    let done = rewrap_keys(ctx, &key, &signer, &patient, &reader, &reader_key, category).await?;
    let Rewrapped {
        stored,
        present,
        unreadable,
        records,
    } = done;
    if ctx.json {
        println!(
            "{}",
            json!({ "reader": reader.to_string(), "records": records, "stored": stored, "already_present": present, "unreadable": unreadable })
        );
    } else {
        // A person counts records, not the keys they share.
        println!("re-wrapped {stored} data key(s) of {patient} ({category}) for {reader}, opening {records} record(s); {present} already had one");
        if unreadable > 0 {
            println!("{unreadable} key(s) did not open with your key and were skipped");
        }
    }
    Ok(unreadable == 0)
}

/// Has the gateway re-wrap the patient's escrowed keys, readings and
/// documents, for the key her recovery bound; each re-wrap is in her trail.
pub async fn recover_keys(ctx: &Ctx, a: &RecoverKeysArgs) -> Result<bool> {
    let key = ctx.keys.load(&a.key)?;
    let patient = ctx.address(&a.patient)?;
    let gateway = GatewayClient::new(&ctx.gateway, key);
    let mut counts = Vec::new();
    for kind in ["readings", "documents"] {
        let n = gateway
            .recover_keys(&patient, kind)
            .await
            .map_err(|e| anyhow!("the gateway refused: {e}"))?;
        counts.push(n);
    }
    let [(reading_keys, readings), (_, documents)] = [counts[0], counts[1]];
    if ctx.json {
        println!(
            "{}",
            json!({ "reading_keys": reading_keys, "readings": readings, "documents": documents })
        );
    } else {
        println!(
            "re-wrapped for your recovered key: the keys of {readings} reading(s) and {documents} document(s); each is in your audit trail"
        );
    }
    Ok(true)
}

/// The patient's audit trail: who read what, when and why; emergencies marked.
pub async fn audit(ctx: &Ctx, a: &AuditArgs) -> Result<bool> {
    let patient = ctx.address(&a.patient)?;
    let trail = AuditTrail {
        items: ctx
            .rpc
            .query_all::<AuditTrail>(&format!("/audit/{patient}/{}", a.from))
            .await?,
        next_after: String::new(),
    };
    if a.fhir {
        let events = trail.items.iter().map(fhir::audit_event).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&fhir::collection(events))?
        );
        return Ok(true);
    }
    if ctx.json {
        println!("{}", serde_json::to_string(&trail)?);
        return Ok(true);
    }
    if trail.items.is_empty() {
        println!("no access recorded");
    }
    for e in &trail.items {
        println!("{}", audit::describe(e));
    }
    Ok(true)
}
