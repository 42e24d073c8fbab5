// Requests signed in the page are what the gateway checks: the known-answer
// vector client/tests/vectors/request-v2.json, which the Rust client signs
// and the gateway's check accepts
// (client/tests/the_request_vector_is_what_a_client_signs_and_the_gateway_accepts.rs).

import { readFileSync } from "node:fs";

import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { describe, expect, it } from "vitest";

import { toHex, utf8 } from "../src/crypto/bytes";
import { signRequest } from "../src/gateway/request";
import { addressOf, addressText, parseAddress } from "../src/ledger/address";

const vector = JSON.parse(
  readFileSync(new URL("../../client/tests/vectors/request-v2.json", import.meta.url), "utf8"),
);
const seedKey = (seed: string) => sha256(utf8(seed));
const publicOf = (seed: string) => secp256k1.getPublicKey(seedKey(seed), true);

describe("gateway requests", () => {
  it("writes the known-answer request's headers byte for byte", () => {
    const headers = signRequest(
      seedKey(vector.signer_seed),
      { audience: vector.audience, method: vector.method, pathAndQuery: vector.path_and_query },
      vector.timestamp_ms,
      vector.nonce,
    );
    expect(headers).toEqual(vector.headers);
  });

  it("signs for the gateway, the path and the body: changing any changes the signature", () => {
    const key = seedKey("doctor");
    const base = { audience: vector.audience, method: "POST", pathAndQuery: "/v1/x", body: utf8("{}") };
    const sign = (r: typeof base) => signRequest(key, r, 1, "00".repeat(16))["x-ehr-signature"];
    const reference = sign(base);
    expect(sign({ ...base, audience: addressText(addressOf(publicOf("gateway@north"))) })).not.toBe(reference);
    expect(sign({ ...base, pathAndQuery: "/v1/y" })).not.toBe(reference);
    expect(sign({ ...base, body: utf8("{ }") })).not.toBe(reference);
    expect(sign({ ...base, method: "post" })).toBe(reference);
  });

  it("a fresh nonce each time unless one is given", () => {
    const r = { audience: vector.audience, method: "GET", pathAndQuery: "/health" };
    expect(signRequest(seedKey("doctor"), r)["x-ehr-nonce"]).not.toBe(signRequest(seedKey("doctor"), r)["x-ehr-nonce"]);
  });
});

describe("addresses", () => {
  it("are written in bech32m as the ledger writes them", () => {
    expect(addressText(addressOf(publicOf("gateway@general")))).toBe(vector.audience);
    const alice = addressText(addressOf(publicOf("alice")));
    expect(vector.path_and_query).toContain(`/v1/patients/${alice}/`);
    expect(toHex(parseAddress(alice))).toBe(toHex(addressOf(publicOf("alice"))));
  });

  it("refuse what is not one, with the reason", () => {
    expect(() => parseAddress("not an address")).toThrow(/not an address/);
    const other = addressText(addressOf(publicOf("alice"))).replace(/^ehr1/, "abc1");
    expect(() => parseAddress(other)).toThrow(/not an address/);
    expect(() => addressOf(new Uint8Array(32))).toThrow(/33 bytes/);
  });
});
