//! A batch's Merkle tree kept as blocks, so that any record's audit path is
//! derived from one slice of bytes instead of being stored with every record
//! (docs/design/compact-readings.md).
//!
//! In RFC 6962's tree (`merkle`) every aligned run of 2^bits leaves — and the
//! last, shorter run — is a subtree, because the tree splits at powers of
//! two; and the tree above those runs is the same kind of tree over their
//! roots. So the path of leaf `i` is its path within its block followed by
//! its block root's path among the block roots.
//!
//! The blob holds, block after block at a fixed stride: the length of the
//! block root's path (one byte), that path in `top_slots` 32-byte slots
//! (zero-padded), then the block's items (each a record's SHA-256, 32
//! bytes). Leaf `i`'s block is found by arithmetic and read alone. What a
//! reader proves is unchanged: the path derived here is `merkle::proof`'s,
//! and is checked against the root anchored on chain as before — a blob
//! altered in storage yields a path that does not verify.

use std::ops::Range;

use super::merkle::{self, Hash};

/// The widest blocks kept: 2^16 leaves.
pub const MAX_BITS: u32 = 16;

/// Where each block of a tree of `size` leaves lies in its blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    size: usize,
    bits: u32,
    top_slots: usize,
}

impl Layout {
    /// The layout of a tree of `size` leaves in blocks of 2^`bits`; `None`
    /// for an empty tree or a width beyond `MAX_BITS`.
    pub fn new(size: usize, bits: u32) -> Option<Layout> {
        if size == 0 || bits > MAX_BITS {
            return None;
        }
        let blocks = size.div_ceil(1 << bits);
        // The longest path among `blocks` roots: ⌈log2 blocks⌉.
        let top_slots = (usize::BITS - (blocks - 1).leading_zeros()) as usize;
        Some(Layout {
            size,
            bits,
            top_slots,
        })
    }

    fn block_width(&self) -> usize {
        1 << self.bits
    }

    fn stride(&self) -> usize {
        1 + 32 * self.top_slots + 32 * self.block_width()
    }

    fn leaves_in(&self, block: usize) -> usize {
        self.block_width()
            .min(self.size - block * self.block_width())
    }

    /// The blob's length.
    pub fn blob_len(&self) -> usize {
        let last = (self.size - 1) >> self.bits;
        last * self.stride() + 1 + 32 * self.top_slots + 32 * self.leaves_in(last)
    }

    /// The bytes of the blob leaf `index`'s path is derived from.
    pub fn slice_of(&self, index: usize) -> Option<Range<usize>> {
        if index >= self.size {
            return None;
        }
        let block = index >> self.bits;
        let start = block * self.stride();
        Some(start..start + 1 + 32 * self.top_slots + 32 * self.leaves_in(block))
    }
}

/// The blob of a tree over `items` (each 32 bytes: a record's SHA-256) in
/// blocks of 2^`bits`; `None` when an item is not 32 bytes, or for a layout
/// `Layout::new` refuses.
pub fn build<T: AsRef<[u8]>>(items: &[T], bits: u32) -> Option<Vec<u8>> {
    let layout = Layout::new(items.len(), bits)?;
    if items.iter().any(|i| i.as_ref().len() != 32) {
        return None;
    }
    let blocks: Vec<&[T]> = items.chunks(layout.block_width()).collect();
    let roots: Vec<Hash> = blocks.iter().map(|b| merkle::root(b)).collect();
    let (_, top_paths) = merkle::over_nodes(&roots);
    let mut blob = Vec::with_capacity(layout.blob_len());
    for (block, top) in blocks.iter().zip(&top_paths) {
        blob.push(top.len() as u8);
        for slot in 0..layout.top_slots {
            blob.extend_from_slice(top.get(slot).map_or(&[0u8; 32][..], |h| &h[..]));
        }
        for item in *block {
            blob.extend_from_slice(item.as_ref());
        }
        // Every block but the last is full: the next starts a stride on.
    }
    debug_assert_eq!(blob.len(), layout.blob_len());
    Some(blob)
}

/// Leaf `index`'s item and audit path (as `merkle::proof` gives it), from
/// the slice `Layout::slice_of(index)` of the blob; `None` when the slice
/// is not one of this layout (truncated, or a path longer than its slots).
pub fn path_from(slice: &[u8], layout: &Layout, index: usize) -> Option<(Hash, Vec<Hash>)> {
    let range = layout.slice_of(index)?;
    if slice.len() != range.len() {
        return None;
    }
    let top_len = usize::from(slice[0]);
    if top_len > layout.top_slots {
        return None;
    }
    let hash = |bytes: &[u8]| -> Hash { bytes.try_into().expect("32-byte chunks") };
    let top = slice[1..1 + 32 * top_len].chunks_exact(32).map(hash);
    let items: Vec<Hash> = slice[1 + 32 * layout.top_slots..]
        .chunks_exact(32)
        .map(hash)
        .collect();
    let within = index & (layout.block_width() - 1);
    let item = *items.get(within)?;
    let mut path = merkle::proof(&items, within)?;
    path.extend(top);
    Some((item, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn items(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| Sha256::digest(format!("record-{i}")).into())
            .collect()
    }

    #[test]
    fn every_derived_path_is_the_stored_one_for_every_size_and_width() {
        for n in (1..=70).chain([127, 128, 129, 255, 257]) {
            let items = items(n);
            let root = merkle::root(&items);
            let stored = merkle::proofs(&items);
            for bits in 0..=6 {
                let blob = build(&items, bits).unwrap();
                let layout = Layout::new(n, bits).unwrap();
                assert_eq!(blob.len(), layout.blob_len(), "n={n} bits={bits}");
                for i in 0..n {
                    let slice = &blob[layout.slice_of(i).unwrap()];
                    let (item, path) = path_from(slice, &layout, i).unwrap();
                    assert_eq!(item, items[i], "n={n} bits={bits} i={i}");
                    assert_eq!(path, stored[i], "n={n} bits={bits} i={i}");
                    assert!(merkle::verify(&root, &item, i, n, &path));
                }
            }
        }
    }

    #[test]
    fn a_full_batch_of_four_thousand_derives_the_same_paths() {
        let n = 4_100;
        let items = items(n);
        let all = merkle::proofs(&items);
        let blob = build(&items, 5).unwrap();
        let layout = Layout::new(n, 5).unwrap();
        for i in (0..n).step_by(7).chain([n - 1]) {
            let (item, path) = path_from(&blob[layout.slice_of(i).unwrap()], &layout, i).unwrap();
            assert_eq!((item, path), (items[i], all[i].clone()), "i={i}");
        }
        // A slice per record: the block's 32 items and a top path of ⌈log2 129⌉ = 8 slots.
        assert_eq!(layout.slice_of(0).unwrap().len(), 1 + 32 * 8 + 32 * 32);
    }

    #[test]
    fn a_slice_that_is_not_the_layouts_gives_no_path() {
        let items = items(100);
        let layout = Layout::new(100, 3).unwrap();
        let blob = build(&items, 3).unwrap();
        let range = layout.slice_of(42).unwrap();
        let slice = &blob[range.clone()];
        assert!(
            path_from(&slice[..slice.len() - 1], &layout, 42).is_none(),
            "truncated"
        );
        let mut longer = slice.to_vec();
        longer[0] = u8::MAX;
        assert!(
            path_from(&longer, &layout, 42).is_none(),
            "a top path longer than its slots"
        );
        assert!(layout.slice_of(100).is_none(), "beyond the tree");
        // Altered in storage: the path derived no longer leads to the root.
        let mut altered = slice.to_vec();
        altered[1 + 32 * 4 + 5] ^= 1;
        let (item, path) = path_from(&altered, &layout, 42).unwrap();
        assert!(!merkle::verify(
            &merkle::root(&items),
            &item,
            42,
            100,
            &path
        ));
    }

    #[test]
    fn only_record_hashes_and_sane_widths_are_kept() {
        assert!(build(&[vec![0u8; 31]], 3).is_none());
        assert!(build::<Hash>(&[], 3).is_none());
        assert!(Layout::new(10, MAX_BITS + 1).is_none());
    }
}
