// Transactions signed in the page are the ledger's, byte for byte: the
// known-answer vector client/tests/vectors/tx-grant-access.hex, which the
// Rust test the_transaction_vector_is_what_the_ledger_signs_and_accepts.rs
// signs the same way and has the ledger accept.

import { readFileSync } from "node:fs";

import { fromBinary } from "@bufbuild/protobuf";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { describe, expect, it } from "vitest";

import { fromHex, toHex, utf8 } from "../src/crypto/bytes";
import { AccessLevel, Category } from "../src/gen/ehr/v1/types_pb";
import { SignedTxSchema, TxBodySchema } from "../src/gen/ehr/v1/tx_pb";
import { addressOf } from "../src/ledger/address";
import { signTransaction } from "../src/ledger/tx";

const seedKey = (seed: string) => sha256(utf8(seed));
const alice = seedKey("alice");
const doctor = seedKey("doctor");
const vector = readFileSync(new URL("../../client/tests/vectors/tx-grant-access.hex", import.meta.url), "utf8").trim();

const grant = () =>
  signTransaction(alice, "ehr-vectors", 1n, {
    case: "grantAccess",
    value: {
      patient: addressOf(secp256k1.getPublicKey(alice, true)),
      grantee: { kind: { case: "clinician", value: addressOf(secp256k1.getPublicKey(doctor, true)) } },
      categories: [Category.VITALS, Category.LABS],
      access: AccessLevel.READ,
      expiresAt: 1_798_761_600n,
    },
  });

describe("transaction signing", () => {
  it("writes the known-answer vector byte for byte", () => {
    expect(toHex(grant())).toBe(vector);
  });

  it("signs SHA-256 of the body as transmitted, with a low S, under the signer's key", () => {
    const signed = fromBinary(SignedTxSchema, fromHex(vector));
    expect(toHex(signed.publicKey)).toBe(toHex(secp256k1.getPublicKey(alice, true)));
    expect(signed.signature.length).toBe(64);
    expect(secp256k1.verify(signed.signature, signed.body, signed.publicKey, { lowS: true })).toBe(true);
    const body = fromBinary(TxBodySchema, signed.body);
    expect(body.chainId).toBe("ehr-vectors");
    expect(body.nonce).toBe(1n);
    expect(body.action?.kind.case).toBe("grantAccess");
  });

  it("gives another transaction for another nonce or chain, and refuses a malformed key", () => {
    const other = signTransaction(alice, "ehr-vectors", 2n, { case: "registerPatient", value: {} });
    expect(toHex(other)).not.toBe(vector);
    expect(() => addressOf(new Uint8Array(32))).toThrow(/33 bytes/);
  });
});
