//! The data keys open for writing: a patient's readings share one data key
//! across polls for as long as the same readers (addresses and public keys)
//! read her vitals, up to `Config::key_span`. Wrapping a key costs three or
//! more ECIES wraps and ≈ 1.1 KB of stored wraps; a key per poll made that the
//! largest part of a stored reading at a hospital's pace, where a poll holds
//! one reading of each patient (docs/BENCHMARKS.md, "Bytes per stored
//! reading").
//!
//! What a key opens never changes who may read: a reader added or removed, a
//! key replaced, an escrow gateway changed — any change in the readers gives
//! a new key, so a revoked reader's wrap opens nothing written after the
//! revocation and a new reader's nothing written before the grant. An erasure
//! carried out for a patient closes her key, so that what she measures next
//! is under a key of its own. The ring lives in memory: a restart opens new
//! keys, and two ingest instances keep keys of their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ehr_client::record_encryption::DataKey;
use ehr_ledger::crypto::{Address, PublicKey};

use crate::store::NewKey;

/// A data key kept for a patient's next readings.
pub struct OpenKey {
    pub data_key: DataKey,
    /// The key's id and its wraps, as stored with its first readings (and
    /// offered again with later ones: storing a wrap already stored is a
    /// no-op, and a write that failed leaves no key without its wraps).
    pub stored: Arc<NewKey>,
    /// Who it is wrapped for, the patient first.
    pub readers: Vec<(Address, PublicKey)>,
    opened: Instant,
}

impl OpenKey {
    pub fn new(data_key: DataKey, stored: Arc<NewKey>, readers: Vec<(Address, PublicKey)>) -> Self {
        OpenKey {
            data_key,
            stored,
            readers,
            opened: Instant::now(),
        }
    }
}

/// Bounds on one key's use.
#[derive(Clone, Copy, Debug)]
pub struct KeySpan {
    /// How long a key is used for new readings at most (zero: a key per
    /// patient and poll).
    pub time: Duration,
    /// How many readings it encrypts at most (AES-GCM with random 96-bit
    /// nonces stays far below its 2^32 bound).
    pub readings: u64,
}

impl Default for KeySpan {
    fn default() -> Self {
        KeySpan {
            time: Duration::from_secs(3600),
            readings: 1_000_000,
        }
    }
}

/// Each patient's open key and the readings it encrypted so far.
#[derive(Default)]
struct Open {
    keys: HashMap<Address, (Arc<OpenKey>, u64)>,
    swept: Option<Instant>,
}

#[derive(Default)]
pub struct KeyRing {
    span: KeySpan,
    open: Mutex<Open>,
}

impl KeyRing {
    pub fn new(span: KeySpan) -> Self {
        KeyRing {
            span,
            open: Mutex::default(),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The patient's open key, if it is wrapped for exactly `readers` and
    /// still within its span with `readings` more.
    pub fn reusable(
        &self,
        patient: &Address,
        readers: &[(Address, PublicKey)],
        readings: u64,
    ) -> Option<Arc<OpenKey>> {
        let mut open = self.open();
        self.sweep(&mut open);
        let (key, used) = open.keys.get(patient)?;
        let same_readers = key.readers.len() == readers.len()
            && key
                .readers
                .iter()
                .zip(readers)
                .all(|((a, k), (b, l))| a == b && k.to_bytes() == l.to_bytes());
        (same_readers
            && key.opened.elapsed() < self.span.time
            && used + readings <= self.span.readings)
            .then(|| Arc::clone(key))
    }

    /// Counts `readings` more under `key`, made the patient's open key (in
    /// place of any other).
    pub fn used(&self, patient: Address, key: &Arc<OpenKey>, readings: u64) {
        let mut open = self.open();
        let entry = open
            .keys
            .entry(patient)
            .or_insert_with(|| (Arc::clone(key), 0));
        if !Arc::ptr_eq(&entry.0, key) {
            *entry = (Arc::clone(key), 0);
        }
        entry.1 += readings;
        self.sweep(&mut open);
    }

    /// Drops the keys past their time, now and then: the ring holds the
    /// patients measured within one span, and a key (zeroed on drop) is not
    /// kept in memory much past it.
    fn sweep(&self, open: &mut Open) {
        let span = self.span.time;
        if open.swept.is_none_or(|t| t.elapsed() >= span / 4) {
            open.keys.retain(|_, (k, _)| k.opened.elapsed() < span);
            open.swept = Some(Instant::now());
        }
    }

    /// Closes the patient's key: her next reading gets a new one.
    pub fn close(&self, patient: &Address) {
        self.open().keys.remove(patient);
    }

    /// Keys open now.
    pub fn len(&self) -> usize {
        self.open().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehr_ledger::crypto::SecretKey;

    fn readers(keys: &[&SecretKey]) -> Vec<(Address, PublicKey)> {
        keys.iter().map(|k| (k.address(), k.public_key())).collect()
    }

    fn open(readers: Vec<(Address, PublicKey)>) -> Arc<OpenKey> {
        let stored = Arc::new(NewKey {
            key_id: "k".into(),
            wraps: vec![],
        });
        Arc::new(OpenKey::new(DataKey::generate(), stored, readers))
    }

    #[test]
    fn a_key_serves_the_same_readers_only_within_its_span() {
        let (patient, doctor, other) = (
            SecretKey::from_seed("patient"),
            SecretKey::from_seed("doctor"),
            SecretKey::from_seed("other"),
        );
        let ring = KeyRing::new(KeySpan {
            time: Duration::from_secs(3600),
            readings: 10,
        });
        let both = readers(&[&patient, &doctor]);
        assert!(ring.reusable(&patient.address(), &both, 0).is_none());
        let key = open(both.clone());
        ring.used(patient.address(), &key, 4);
        let again = ring.reusable(&patient.address(), &both, 0).expect("reused");
        assert!(Arc::ptr_eq(&again, &key));
        // A reader more, fewer, or the same address with another key: none.
        assert!(ring
            .reusable(
                &patient.address(),
                &readers(&[&patient, &doctor, &other]),
                0
            )
            .is_none());
        assert!(ring
            .reusable(&patient.address(), &readers(&[&patient]), 0)
            .is_none());
        let mut replaced = both.clone();
        replaced[1].1 = other.public_key();
        assert!(ring.reusable(&patient.address(), &replaced, 0).is_none());
        // Another patient's readers never reach her key.
        assert!(ring.reusable(&doctor.address(), &both, 0).is_none());
        // Its reading bound.
        ring.used(patient.address(), &key, 6);
        assert!(ring.reusable(&patient.address(), &both, 1).is_none());
        assert!(ring.reusable(&patient.address(), &both, 0).is_some());
        // A new key in its place starts its count again; a closed one is gone.
        let next = open(both.clone());
        ring.used(patient.address(), &next, 1);
        assert!(Arc::ptr_eq(
            &ring
                .reusable(&patient.address(), &both, 5)
                .expect("the new one"),
            &next
        ));
        ring.close(&patient.address());
        assert!(ring.reusable(&patient.address(), &both, 0).is_none());
        assert!(ring.is_empty());
    }

    #[test]
    fn with_no_span_every_poll_has_a_key_of_its_own() {
        let patient = SecretKey::from_seed("patient");
        let ring = KeyRing::new(KeySpan {
            time: Duration::ZERO,
            readings: 1_000_000,
        });
        let mine = readers(&[&patient]);
        ring.used(patient.address(), &open(mine.clone()), 1);
        assert!(ring.reusable(&patient.address(), &mine, 0).is_none());
        assert!(ring.is_empty());
    }
}
