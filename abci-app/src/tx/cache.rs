//! Transactions whose signatures this node already verified.
//!
//! Verifying a secp256k1 signature is most of the cost of applying a
//! transaction (docs/BENCHMARKS.md). A transaction reaches FinalizeBlock after
//! CheckTx or ProcessProposal verified the very same bytes, so the signature
//! check is skipped when SHA-256 of the bytes is here. It is a per-node
//! optimisation with no effect on results: the same bytes verify the same way.

use std::collections::{HashSet, VecDeque};

pub struct SignatureCache {
    verified: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    capacity: usize,
}

impl SignatureCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            verified: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, tx_hash: &[u8; 32]) -> bool {
        self.verified.contains(tx_hash)
    }

    /// Remembers a verified transaction, forgetting the oldest beyond capacity.
    pub fn insert(&mut self, tx_hash: [u8; 32]) {
        if self.verified.insert(tx_hash) {
            self.order.push_back(tx_hash);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.verified.remove(&old);
                }
            }
        }
    }

    /// Forgets a transaction once it is in a committed block.
    pub fn remove(&mut self, tx_hash: &[u8; 32]) {
        if self.verified.remove(tx_hash) {
            self.order.retain(|h| h != tx_hash);
        }
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

    #[test]
    fn keeps_at_most_capacity_forgetting_the_oldest() {
        let mut c = SignatureCache::new(2);
        c.insert([1; 32]);
        c.insert([2; 32]);
        c.insert([3; 32]);
        assert!(!c.contains(&[1; 32]));
        assert!(c.contains(&[2; 32]) && c.contains(&[3; 32]));
        c.remove(&[2; 32]);
        assert_eq!(c.len(), 1);
    }
}
