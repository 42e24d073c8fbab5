// The user's secp256k1 key, kept only in the browser and only encrypted
// under a passphrase: PBKDF2-SHA256 (600 000 iterations) derives an
// AES-256-GCM key that seals the secret key; the public key travels in the
// clear beside it and is bound to it as associated data, so a sealed key
// cannot be relabelled. Nothing here ever leaves the page.

import { secp256k1 } from "@noble/curves/secp256k1.js";

import { buffer, fromHex, toHex, utf8 } from "./bytes";

export const FORMAT = "ehr-portal-key-v1";
export const ITERATIONS = 600_000;

/** What the browser stores: no secret in the clear. */
export interface SealedKey {
  format: typeof FORMAT;
  publicKey: string;
  iterations: number;
  salt: string;
  nonce: string;
  ciphertext: string;
}

export class VaultError extends Error {}

/** A new secret key, drawn from the browser's random source. */
export function newSecretKey(): Uint8Array {
  return secp256k1.utils.randomSecretKey();
}

/** A secret key typed or pasted as 64 hex digits, checked. */
export function importSecretKey(hex: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromHex(hex);
  } catch {
    throw new VaultError("a secret key is 64 hexadecimal digits");
  }
  if (bytes.length !== 32 || !secp256k1.utils.isValidSecretKey(bytes)) {
    throw new VaultError("these 32 bytes are not a secp256k1 secret key (zero, or not below the curve's order)");
  }
  return bytes;
}

export function publicKeyOf(secret: Uint8Array): Uint8Array {
  return secp256k1.getPublicKey(secret, true);
}

async function passphraseKey(passphrase: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", buffer(utf8(passphrase)), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt: buffer(salt), iterations },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

function associated(publicKey: string): ArrayBuffer {
  return buffer(utf8(`${FORMAT}${publicKey}`));
}

export async function sealSecretKey(
  secret: Uint8Array,
  passphrase: string,
  iterations: number = ITERATIONS,
): Promise<SealedKey> {
  if (passphrase.length < 8) {
    throw new VaultError("choose a passphrase of at least 8 characters");
  }
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const publicKey = toHex(publicKeyOf(secret));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: buffer(nonce), additionalData: associated(publicKey) },
    await passphraseKey(passphrase, salt, iterations),
    buffer(secret),
  );
  return {
    format: FORMAT,
    publicKey,
    iterations,
    salt: toHex(salt),
    nonce: toHex(nonce),
    ciphertext: toHex(new Uint8Array(sealed)),
  };
}

export async function openSecretKey(sealed: SealedKey, passphrase: string): Promise<Uint8Array> {
  if (sealed.format !== FORMAT) {
    throw new VaultError(`this stored key is in format ${String(sealed.format)}, not ${FORMAT}`);
  }
  let secret: Uint8Array;
  try {
    const opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: buffer(fromHex(sealed.nonce)), additionalData: associated(sealed.publicKey) },
      await passphraseKey(passphrase, fromHex(sealed.salt), sealed.iterations),
      buffer(fromHex(sealed.ciphertext)),
    );
    secret = new Uint8Array(opened);
  } catch {
    throw new VaultError("the passphrase does not open this key (or the stored key was altered)");
  }
  if (toHex(publicKeyOf(secret)) !== sealed.publicKey) {
    throw new VaultError("the stored key does not match its public key");
  }
  return secret;
}
