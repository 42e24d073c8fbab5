// State proofs as validators answer them (abci_query with prove: ProofOp
// "jmt:v1", abci-app/core/src/ledger/query.rs): a Jellyfish Merkle sparse
// proof, borsh-encoded, that `key` holds `value` (or nothing) in the state
// whose root is a block's app hash. The tree addresses SHA-256(key); a leaf
// hashes "JMT::LeafNode" ‖ key hash ‖ SHA-256(value), an inner node
// "JMT::IntrnalNode" ‖ left ‖ right, an empty subtree is the placeholder
// "SPARSE_MERKLE_PLACEHOLDER_HASH__". Siblings run from the leaf up; the
// key hash's bits, most significant first, say which side we are on.

import { sha256 } from "@noble/hashes/sha2.js";

import { concat, equal, utf8 } from "../crypto/bytes";

const LEAF = utf8("JMT::LeafNode");
const INTERNAL = utf8("JMT::IntrnalNode");
const PLACEHOLDER = utf8("SPARSE_MERKLE_PLACEHOLDER_HASH__");

export class StateProofError extends Error {}

interface Leaf {
  keyHash: Uint8Array;
  valueHash: Uint8Array;
}

interface Proof {
  leaf: Leaf | null;
  /** Sibling hashes, from the leaf's level up to the root's children. */
  siblings: Uint8Array[];
}

const leafHash = (l: Leaf) => sha256(concat(LEAF, l.keyHash, l.valueHash));
const internalHash = (left: Uint8Array, right: Uint8Array) => sha256(concat(INTERNAL, left, right));
const bit = (hash: Uint8Array, i: number) => ((hash[i >> 3] >> (7 - (i & 7))) & 1) === 1;

function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  while (n < 256 && bit(a, n) === bit(b, n)) n++;
  return n;
}

/** Reads the borsh encoding: Option<leaf>, then a u32 count of siblings, each a tagged node. */
export function parseStateProof(bytes: Uint8Array): Proof {
  let at = 0;
  const take = (n: number) => {
    if (at + n > bytes.length) {
      throw new StateProofError(`the proof ends at byte ${bytes.length}, inside a field`);
    }
    const out = bytes.slice(at, at + n);
    at += n;
    return out;
  };
  const tag = take(1)[0];
  let leaf: Leaf | null = null;
  if (tag === 1) {
    leaf = { keyHash: take(32), valueHash: take(32) };
  } else if (tag !== 0) {
    throw new StateProofError(`the proof's leaf tag is ${tag}, not 0 or 1`);
  }
  const count = new DataView(take(4).buffer).getUint32(0, true);
  if (count > 256) {
    throw new StateProofError(`the proof has ${count} siblings; a tree of 256-bit keys has at most 256`);
  }
  const siblings: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const kind = take(1)[0];
    if (kind === 0) siblings.push(PLACEHOLDER);
    else if (kind === 1) siblings.push(internalHash(take(32), take(32)));
    else if (kind === 2) siblings.push(leafHash({ keyHash: take(32), valueHash: take(32) }));
    else throw new StateProofError(`sibling ${i} has node tag ${kind}, not 0, 1 or 2`);
  }
  if (at !== bytes.length) {
    throw new StateProofError(`the proof has ${bytes.length - at} bytes after its end`);
  }
  return { leaf, siblings };
}

/**
 * Checks that under `key` the state with app hash `root` holds `value`
 * (null: nothing); throws a StateProofError saying why not.
 */
export function verifyStateProof(
  root: Uint8Array,
  key: Uint8Array,
  value: Uint8Array | null,
  proofBytes: Uint8Array,
): void {
  const proof = parseStateProof(proofBytes);
  const keyHash = sha256(key);
  const { leaf, siblings } = proof;
  if (value !== null) {
    if (!leaf) throw new StateProofError("the proof shows the key absent, not holding the value");
    if (!equal(leaf.keyHash, keyHash)) throw new StateProofError("the proof is for another key");
    if (!equal(leaf.valueHash, sha256(value))) throw new StateProofError("the state holds another value under this key");
  } else if (leaf) {
    if (equal(leaf.keyHash, keyHash)) throw new StateProofError("the proof shows the key present, not absent");
    if (commonPrefixBits(keyHash, leaf.keyHash) < siblings.length) {
      throw new StateProofError("the proof's leaf is not where the key would be: it does not show absence");
    }
  }
  let hash = leaf ? leafHash(leaf) : PLACEHOLDER;
  siblings.forEach((sibling, i) => {
    hash = bit(keyHash, siblings.length - 1 - i) ? internalHash(sibling, hash) : internalHash(hash, sibling);
  });
  if (!equal(hash, root)) {
    throw new StateProofError("the proof does not lead to the app hash the validators signed");
  }
}
