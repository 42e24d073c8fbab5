// Audit paths checked in the page against the known-answer batch
// client/tests/vectors/merkle-7.json, written by the ledger's own Merkle code
// (client/tests/the_merkle_vector_is_what_ingest_anchors.rs).

import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { fromHex } from "../src/crypto/bytes";
import { verifyPath } from "../src/ledger/merkle";

const vector = JSON.parse(readFileSync(new URL("../../client/tests/vectors/merkle-7.json", import.meta.url), "utf8"));
const items: Uint8Array[] = vector.items.map(fromHex);
const root = fromHex(vector.root);
const paths: Uint8Array[][] = vector.paths.map((p: string[]) => p.map(fromHex));
const size = items.length;

describe("Merkle audit paths", () => {
  it("prove every record of the known-answer batch against its root", () => {
    items.forEach((item, i) => expect(verifyPath(root, item, i, size, paths[i])).toBe(true));
  });

  // (The batch's size comes with its anchor, as the root does: a path alone
  // does not bind it — a left-hand record's path in a batch of 7 holds in
  // one of 8 with the same root, in RFC 9162 as in the Rust code.)
  it("refuse another position, another record, a bent or short path or another root", () => {
    items.forEach((item, i) => {
      expect(verifyPath(root, item, (i + 1) % size, size, paths[i])).toBe(false);
      expect(verifyPath(root, items[(i + 1) % size], i, size, paths[i])).toBe(false);
      const bent = paths[i].map((h) => h.slice());
      bent[0][0] ^= 1;
      expect(verifyPath(root, item, i, size, bent)).toBe(false);
      expect(verifyPath(root, item, i, size, paths[i].slice(0, -1))).toBe(false);
    });
    const otherRoot = root.slice();
    otherRoot[31] ^= 1;
    expect(verifyPath(otherRoot, items[0], 0, size, paths[0])).toBe(false);
    expect(verifyPath(root, items[0], -1, size, paths[0])).toBe(false);
    expect(verifyPath(root, items[0], 7, size, paths[0])).toBe(false);
  });
});
