// The portal's key wrapping against the repository's known-answer vectors
// (client/tests/vectors, written by the Rust implementation and checked by
// the independent Python one in docs/examples/wrap_key.py): same bytes
// written, same keys opened, and every way a wrap can be wrong refused with
// a sentence.

import { readFileSync } from "node:fs";

import { sha256 } from "@noble/hashes/sha2.js";
import { describe, expect, it } from "vitest";

import { fromHex, toHex, utf8 } from "../src/crypto/bytes";
import { UnwrapError, unwrapKey, wrapKey } from "../src/crypto/keywrap";
import { publicKeyOf } from "../src/crypto/vault";

const vector = (name: string) =>
  fromHex(readFileSync(new URL(`../../client/tests/vectors/${name}`, import.meta.url), "utf8"));

// The vectors' keys: SHA-256 of a seed, as the Rust and Python sides make them.
const seedKey = (seed: string) => sha256(utf8(seed));
const ephemeral = seedKey("ephemeral");
const reader = seedKey("reader");
const dataKey = new Uint8Array(32).fill(0x42);

const cases = [
  { version: 1, keyId: "rec-1", file: "wrap-v1.hex" },
  { version: 2, keyId: "k-000102030405060708090a0b0c0d0e0f", file: "wrap-v2.hex" },
];

describe("key wrapping, versions 1 and 2", () => {
  for (const { version, keyId, file } of cases) {
    it(`writes the known-answer vector ${file} byte for byte`, async () => {
      const wrapped = await wrapKey(version, publicKeyOf(reader), keyId, dataKey, ephemeral);
      expect(toHex(wrapped)).toBe(toHex(vector(file)));
    });

    it(`opens ${file} as the reader`, async () => {
      expect(toHex(await unwrapKey(reader, keyId, vector(file)))).toBe(toHex(dataKey));
    });

    it(`refuses ${file} under another key id, for another reader, or altered`, async () => {
      const wrapped = vector(file);
      await expect(unwrapKey(reader, `${keyId}x`, wrapped)).rejects.toThrow(/re-wrap/);
      await expect(unwrapKey(seedKey("someone else"), keyId, wrapped)).rejects.toThrow(UnwrapError);
      for (const at of [40, wrapped.length - 1]) {
        const bent = wrapped.slice();
        bent[at] ^= 1;
        await expect(unwrapKey(reader, keyId, bent)).rejects.toThrow(/altered/);
      }
    });
  }

  it("refuses a wrap of the wrong length, an unknown version, or a point off the curve", async () => {
    const wrapped = vector("wrap-v2.hex");
    await expect(unwrapKey(reader, "k", wrapped.slice(1))).rejects.toThrow(/82 bytes; this one has 81/);
    const v9 = wrapped.slice();
    v9[0] = 9;
    await expect(unwrapKey(reader, "k", v9)).rejects.toThrow(/version 9/);
    const offCurve = wrapped.slice();
    offCurve.fill(0xff, 1, 34);
    await expect(unwrapKey(reader, "k", offCurve)).rejects.toThrow(/not a point/);
  });

  it("wraps with a fresh ephemeral key each time, and opens its own wraps", async () => {
    const a = await wrapKey(2, publicKeyOf(reader), "k-1", dataKey);
    const b = await wrapKey(2, publicKeyOf(reader), "k-1", dataKey);
    expect(toHex(a)).not.toBe(toHex(b));
    expect(toHex(await unwrapKey(reader, "k-1", a))).toBe(toHex(dataKey));
  });
});
