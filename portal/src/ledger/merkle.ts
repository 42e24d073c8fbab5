// Merkle audit paths of ingest's batches (abci-app/core/src/crypto/merkle.rs):
// RFC 6962's tree hash with domain-separated leaves and nodes,
//   leaf(d) = SHA-256(0x00 ‖ d),  node(l, r) = SHA-256(0x01 ‖ l ‖ r),
// verified as RFC 9162 §2.1.3.2 says: a record's hash at `index` of a batch
// of `size` belongs to the batch whose root the chain anchored.

import { sha256 } from "@noble/hashes/sha2.js";

import { concat, equal } from "../crypto/bytes";

export function leafHash(item: Uint8Array): Uint8Array {
  return sha256(concat(Uint8Array.of(0), item));
}

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** Whether `item` at `index` of a batch of `size` has root `root` by `path`. */
export function verifyPath(
  root: Uint8Array,
  item: Uint8Array,
  index: number,
  size: number,
  path: Uint8Array[],
): boolean {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) {
    return false;
  }
  let fn = index;
  let sn = size - 1;
  let r = leafHash(item);
  for (const p of path) {
    if (sn === 0) {
      return false;
    }
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(r, root);
}
