// A record's ciphertext: opened with its key and its own record id only.

import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { fromHex, toHex, utf8 } from "../src/crypto/bytes";
import { RecordError, openRecord, sealRecord } from "../src/crypto/record";

const key = new Uint8Array(32).fill(7);
const reading = utf8('{"loinc":"8867-4","value":72,"unit":"/min"}');

describe("record ciphertext", () => {
  it("writes the known-answer vector client/tests/vectors/record-v1.hex, which the Rust implementation opens", async () => {
    const vector = readFileSync(new URL("../../client/tests/vectors/record-v1.hex", import.meta.url), "utf8").trim();
    const key42 = new Uint8Array(32).fill(0x42);
    const blob = await sealRecord(key42, "dev-1:42", utf8('{"value":72}'), fromHex("0102030405060708090a0b0c"));
    expect(toHex(blob)).toBe(vector);
    expect(new TextDecoder().decode(await openRecord(key42, "dev-1:42", fromHex(vector)))).toBe('{"value":72}');
  });

  it("has the documented layout: version, nonce, AES-256-GCM with the record id as AAD", async () => {
    const nonce = fromHex("000102030405060708090a0b");
    const blob = await sealRecord(key, "dev-1:42", reading, nonce);
    expect(blob[0]).toBe(1);
    expect(toHex(blob.slice(1, 13))).toBe(toHex(nonce));
    expect(blob.length).toBe(1 + 12 + reading.length + 16);
    expect(new TextDecoder().decode(await openRecord(key, "dev-1:42", blob))).toContain("8867-4");
  });

  it("refuses a blob moved to another record, altered, under another key, or of another format", async () => {
    const blob = await sealRecord(key, "dev-1:42", reading);
    await expect(openRecord(key, "dev-1:43", blob)).rejects.toThrow(/another record/);
    const bent = blob.slice();
    bent[20] ^= 1;
    await expect(openRecord(key, "dev-1:42", bent)).rejects.toThrow(RecordError);
    await expect(openRecord(new Uint8Array(32), "dev-1:42", blob)).rejects.toThrow(/altered/);
    const v2 = blob.slice();
    v2[0] = 2;
    await expect(openRecord(key, "dev-1:42", v2)).rejects.toThrow(/format 2/);
    await expect(openRecord(key, "dev-1:42", blob.slice(0, 20))).rejects.toThrow(/at least 29 bytes/);
    await expect(openRecord(key.slice(1), "dev-1:42", blob)).rejects.toThrow(/32 bytes/);
  });
});
