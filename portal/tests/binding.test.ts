// A key-binding proof made in the page is the ledger's, byte for byte: the
// known-answer vector client/tests/vectors/key-binding.json, which the Rust
// test the_key_binding_proofs_are_what_the_ledger_checks writes with the
// ledger's own prove_binding and verifies.

import { readFileSync } from "node:fs";

import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { describe, expect, it } from "vitest";

import { toHex, utf8 } from "../src/crypto/bytes";
import { bindingMessage, proveBinding } from "../src/ledger/binding";

const vector = JSON.parse(readFileSync(new URL("../../client/tests/vectors/key-binding.json", import.meta.url), "utf8"));
const newKey = sha256(utf8(vector.new_key_seed));

describe("key-binding proofs", () => {
  it("are the ledger's for a rotation and for a recovery", () => {
    expect(toHex(proveBinding(newKey, "rotation", vector.identity))).toBe(vector.rotation);
    expect(toHex(proveBinding(newKey, "recovery", vector.identity))).toBe(vector.recovery);
  });

  it("prove one purpose only", () => {
    const publicKey = secp256k1.getPublicKey(newKey, true);
    const verifies = (proof: string, why: "rotation" | "recovery") =>
      secp256k1.verify(Uint8Array.from(Buffer.from(proof, "hex")), bindingMessage(why, vector.identity), publicKey, { prehash: true, format: "compact" });
    expect(verifies(vector.recovery, "recovery")).toBe(true);
    expect(verifies(vector.recovery, "rotation")).toBe(false);
    expect(verifies(vector.rotation, "rotation")).toBe(true);
  });
});
