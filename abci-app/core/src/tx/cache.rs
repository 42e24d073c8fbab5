//! Transactions whose signatures this node already verified.
//!
//! Verifying a secp256k1 signature is most of the cost of applying a
//! transaction (docs/BENCHMARKS.md). A transaction reaches FinalizeBlock after
//! CheckTx or ProcessProposal verified the very same bytes, so the signature
//! check is skipped when SHA-256 of the bytes is here — and so is parsing
//! the signer's public key, kept beside the hash. It is a per-node
//! optimisation with no effect on results: the same bytes verify the same way.

use std::collections::{HashMap, VecDeque};

use crate::crypto::PublicKey;

/// Every operation is O(1) (amortised): a removed transaction leaves its
/// place in the eviction order behind, recognised later by its generation.
pub struct SignatureCache {
    /// Hash → the generation it was inserted with, and the signer's key.
    verified: HashMap<[u8; 32], (u64, PublicKey)>,
    /// Insertion order, oldest first; entries whose generation no longer
    /// matches were removed (or inserted again) since.
    order: VecDeque<([u8; 32], u64)>,
    generation: u64,
    capacity: usize,
}

impl SignatureCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            verified: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, tx_hash: &[u8; 32]) -> bool {
        self.verified.contains_key(tx_hash)
    }

    /// The signer's key of a verified transaction.
    pub fn signer(&self, tx_hash: &[u8; 32]) -> Option<PublicKey> {
        self.verified.get(tx_hash).map(|(_, key)| key.clone())
    }

    /// Remembers a verified transaction, forgetting the oldest beyond capacity.
    pub fn insert(&mut self, tx_hash: [u8; 32], signer: PublicKey) {
        if self.verified.contains_key(&tx_hash) {
            return;
        }
        self.generation += 1;
        self.verified.insert(tx_hash, (self.generation, signer));
        self.order.push_back((tx_hash, self.generation));
        while self.verified.len() > self.capacity {
            self.evict_oldest();
        }
        // Places left by removals are dropped as they reach the front; this
        // keeps them from piling up when removals outnumber evictions.
        while self.order.len() > 2 * self.capacity {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((old, generation)) = self.order.pop_front() {
            if self.verified.get(&old).map(|(g, _)| *g) == Some(generation) {
                self.verified.remove(&old);
            }
        }
    }

    /// Forgets a transaction once it is in a committed block.
    pub fn remove(&mut self, tx_hash: &[u8; 32]) {
        self.verified.remove(tx_hash);
    }

    pub fn len(&self) -> usize {
        self.verified.len()
    }

    pub fn is_empty(&self) -> bool {
        self.verified.is_empty()
    }
}

impl Default for SignatureCache {
    /// Room for a full mempool of CometBFT's default size (5000) several times over.
    fn default() -> Self {
        Self::new(50_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PublicKey {
        crate::crypto::SecretKey::from_seed("signer").public_key()
    }

    #[test]
    fn keeps_at_most_capacity_forgetting_the_oldest() {
        let mut c = SignatureCache::new(2);
        c.insert([1; 32], key());
        c.insert([2; 32], key());
        c.insert([3; 32], key());
        assert!(!c.contains(&[1; 32]));
        assert!(c.contains(&[2; 32]) && c.contains(&[3; 32]));
        c.remove(&[2; 32]);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_transaction_removed_and_inserted_again_is_evicted_by_its_new_place() {
        let mut c = SignatureCache::new(2);
        c.insert([1; 32], key());
        c.remove(&[1; 32]);
        c.insert([2; 32], key());
        c.insert([1; 32], key());
        // [1]'s old place is at the front: passing it must not evict [1].
        c.insert([3; 32], key());
        assert!(c.contains(&[1; 32]) && c.contains(&[3; 32]));
        assert!(!c.contains(&[2; 32]));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn removals_leave_no_growing_queue() {
        let mut c = SignatureCache::new(10);
        for i in 0..10_000u32 {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_le_bytes());
            c.insert(h, key());
            c.remove(&h);
        }
        assert!(c.is_empty());
        assert!(c.order.len() <= 20, "{}", c.order.len());
    }
}
