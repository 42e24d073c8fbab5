// The key kept in the browser: sealed under a passphrase, opened only with it.

import { describe, expect, it } from "vitest";

import { toHex } from "../src/crypto/bytes";
import {
  FORMAT,
  importSecretKey,
  newSecretKey,
  openSecretKey,
  publicKeyOf,
  sealSecretKey,
} from "../src/crypto/vault";

// Fewer iterations than the real 600 000, to keep the test quick; the
// format records the count, so opening follows whatever was used.
const FAST = 1_000;

describe("the key vault", () => {
  it("seals a key so that nothing secret is stored, and opens it with the passphrase", async () => {
    const secret = newSecretKey();
    const sealed = await sealSecretKey(secret, "correct horse battery", FAST);
    expect(sealed.format).toBe(FORMAT);
    expect(sealed.publicKey).toBe(toHex(publicKeyOf(secret)));
    expect(JSON.stringify(sealed)).not.toContain(toHex(secret));
    expect(toHex(await openSecretKey(sealed, "correct horse battery"))).toBe(toHex(secret));
  });

  it("refuses a wrong passphrase, a relabelled key, an altered key and a short passphrase", async () => {
    const sealed = await sealSecretKey(newSecretKey(), "correct horse battery", FAST);
    await expect(openSecretKey(sealed, "correct horse batterY")).rejects.toThrow(/passphrase does not open/);
    const relabelled = { ...sealed, publicKey: toHex(publicKeyOf(newSecretKey())) };
    await expect(openSecretKey(relabelled, "correct horse battery")).rejects.toThrow(/altered/);
    const altered = { ...sealed, ciphertext: `00${sealed.ciphertext.slice(2)}` };
    await expect(openSecretKey(altered, "correct horse battery")).rejects.toThrow(/altered/);
    await expect(sealSecretKey(newSecretKey(), "short")).rejects.toThrow(/at least 8 characters/);
  });

  it("imports a typed key only if it is one", () => {
    const secret = newSecretKey();
    expect(toHex(importSecretKey(toHex(secret)))).toBe(toHex(secret));
    expect(() => importSecretKey("xyz")).toThrow(/64 hexadecimal digits/);
    expect(() => importSecretKey("00".repeat(32))).toThrow(/not a secp256k1 secret key/);
    expect(() => importSecretKey("ff".repeat(32))).toThrow(/not a secp256k1 secret key/);
  });
});
