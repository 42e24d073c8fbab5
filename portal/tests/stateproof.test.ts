// State proofs checked in the page against the known-answer proofs of
// client/tests/vectors/state-proof.json, which the ledger's store answers
// and its own check accepts
// (client/tests/the_state_proof_vector_is_what_a_validator_answers.rs).

import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { fromHex, utf8 } from "../src/crypto/bytes";
import { StateProofError, verifyStateProof } from "../src/ledger/stateproof";

const vector = JSON.parse(
  readFileSync(new URL("../../client/tests/vectors/state-proof.json", import.meta.url), "utf8"),
);
const root = fromHex(vector.root);
const present = fromHex(vector.present.proof);
const absent = fromHex(vector.absent.proof);

describe("state proofs", () => {
  it("prove a value present and a key absent against the app hash", () => {
    verifyStateProof(root, utf8(vector.present.key), utf8(vector.present.value), present);
    verifyStateProof(root, utf8(vector.absent.key), null, absent);
  });

  it("refuse another value, another key, presence as absence and the reverse, another root", () => {
    const check = (key: string, value: string | null, proof: Uint8Array, r = root) => () =>
      verifyStateProof(r, utf8(key), value === null ? null : utf8(value), proof);
    expect(check("k-7", "v-8", present)).toThrow(/another value/);
    expect(check("k-8", "v-7", present)).toThrow(/another key/);
    expect(check("k-7", null, present)).toThrow(/present, not absent/);
    expect(check("absent", "x", absent)).toThrow(/absent, not holding/);
    const otherRoot = root.slice();
    otherRoot[0] ^= 1;
    expect(check("k-7", "v-7", present, otherRoot)).toThrow(/app hash/);
    expect(check("absent", null, absent, otherRoot)).toThrow(/app hash/);
  });

  it("refuse a bent, cut or padded proof with the reason", () => {
    const bent = present.slice();
    bent[bent.length - 1] ^= 1;
    expect(() => verifyStateProof(root, utf8("k-7"), utf8("v-7"), bent)).toThrow(StateProofError);
    expect(() => verifyStateProof(root, utf8("k-7"), utf8("v-7"), present.slice(0, 50))).toThrow(/ends at byte 50/);
    const padded = new Uint8Array([...present, 0]);
    expect(() => verifyStateProof(root, utf8("k-7"), utf8("v-7"), padded)).toThrow(/1 bytes after its end/);
    const badTag = present.slice();
    badTag[0] = 7;
    expect(() => verifyStateProof(root, utf8("k-7"), utf8("v-7"), badTag)).toThrow(/leaf tag is 7/);
  });
});
