//! Merkle trees over record hashes, for batch anchors: RFC 6962's Merkle Tree
//! Hash (as Certificate Transparency uses), with domain-separated leaves and
//! nodes so a leaf can never pass for an inner node.
//!
//! leaf(d)      = SHA-256(0x00 ‖ d)
//! node(l, r)   = SHA-256(0x01 ‖ l ‖ r)
//! MTH(d[0..n]) = node(MTH(d[0..k]), MTH(d[k..n])), k the largest power of two < n

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn split(n: usize) -> usize {
    // The largest power of two strictly below n (n >= 2).
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

fn subtree_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&subtree_root(&leaves[..k]), &subtree_root(&leaves[k..]))
        }
    }
}

/// The root over `items` (each item is a record's SHA-256, hashed as a leaf).
pub fn root<T: AsRef<[u8]>>(items: &[T]) -> Hash {
    let leaves: Vec<Hash> = items.iter().map(|d| leaf_hash(d.as_ref())).collect();
    subtree_root(&leaves)
}

/// The audit path of leaf `index`: sibling hashes from the leaf up to the root.
pub fn proof<T: AsRef<[u8]>>(items: &[T], index: usize) -> Option<Vec<Hash>> {
    if index >= items.len() {
        return None;
    }
    let leaves: Vec<Hash> = items.iter().map(|d| leaf_hash(d.as_ref())).collect();
    let mut path = Vec::new();
    collect_path(&leaves, index, &mut path);
    Some(path)
}

/// Every leaf's audit path at once, in O(n log n): for serving many records
/// of one batch without rebuilding the tree for each.
pub fn proofs<T: AsRef<[u8]>>(items: &[T]) -> Vec<Vec<Hash>> {
    let leaves: Vec<Hash> = items.iter().map(|d| leaf_hash(d.as_ref())).collect();
    let mut paths = vec![Vec::new(); leaves.len()];
    fill_paths(&leaves, &mut paths);
    paths
}

/// The root over nodes already hashed (the roots of subtrees), and each
/// one's path to it: for a tree kept as blocks (`block_tree`).
pub(crate) fn over_nodes(nodes: &[Hash]) -> (Hash, Vec<Vec<Hash>>) {
    let mut paths = vec![Vec::new(); nodes.len()];
    let root = fill_paths(nodes, &mut paths);
    (root, paths)
}

/// Pushes each subtree's sibling onto the paths below it (deepest first) and
/// returns the subtree's root.
fn fill_paths(leaves: &[Hash], paths: &mut [Vec<Hash>]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            let (left_paths, right_paths) = paths.split_at_mut(k);
            let l = fill_paths(&leaves[..k], left_paths);
            let r = fill_paths(&leaves[k..], right_paths);
            left_paths.iter_mut().for_each(|p| p.push(r));
            right_paths.iter_mut().for_each(|p| p.push(l));
            node_hash(&l, &r)
        }
    }
}

fn collect_path(leaves: &[Hash], index: usize, path: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        collect_path(&leaves[..k], index, path);
        path.push(subtree_root(&leaves[k..]));
    } else {
        collect_path(&leaves[k..], index - k, path);
        path.push(subtree_root(&leaves[..k]));
    }
}

/// Whether `item` at `index` of a tree of `size` leaves has root `root` by `path`.
pub fn verify(root: &Hash, item: &[u8], index: usize, size: usize, path: &[Hash]) -> bool {
    if index >= size {
        return false;
    }
    // RFC 9162 §2.1.3.2: walk up with fn = index, sn = size - 1.
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = leaf_hash(item);
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("record-{i}").into_bytes()).collect()
    }

    #[test]
    fn every_leaf_of_every_size_proves_its_membership() {
        for n in 1..=33 {
            let items = items(n);
            let root = root(&items);
            for i in 0..n {
                let path = proof(&items, i).unwrap();
                assert!(verify(&root, &items[i], i, n, &path), "n={n} i={i}");
                assert!(!verify(&root, b"forged", i, n, &path), "n={n} i={i}");
                if n > 1 {
                    let other = (i + 1) % n;
                    assert!(
                        !verify(&root, &items[i], other, n, &path),
                        "wrong index n={n} i={i}"
                    );
                }
            }
        }
    }

    #[test]
    fn all_paths_at_once_are_the_paths_one_at_a_time() {
        for n in 0..=40 {
            let items = items(n);
            let all = proofs(&items);
            assert_eq!(all.len(), n);
            for (i, path) in all.iter().enumerate() {
                assert_eq!(Some(path.clone()), proof(&items, i), "n={n} i={i}");
            }
        }
    }

    #[test]
    fn a_leaf_cannot_pass_for_an_inner_node() {
        let items = items(2);
        let r = root(&items);
        // The concatenation of the two leaf hashes is not a leaf of a one-leaf tree with that root.
        let mut fake = leaf_hash(&items[0]).to_vec();
        fake.extend_from_slice(&leaf_hash(&items[1]));
        assert!(!verify(&r, &fake, 0, 1, &[]));
    }

    #[test]
    fn out_of_range_indexes_have_no_proof() {
        assert!(proof(&items(3), 3).is_none());
        assert!(!verify(&root(&items(3)), b"x", 5, 3, &[]));
    }

    #[test]
    fn matches_the_rfc_6962_shape_for_three_leaves() {
        let items = items(3);
        let expected = node_hash(
            &node_hash(&leaf_hash(&items[0]), &leaf_hash(&items[1])),
            &leaf_hash(&items[2]),
        );
        assert_eq!(root(&items), expected);
    }
}
