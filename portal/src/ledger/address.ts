// Account addresses (abci-app/core/src/crypto/keys.rs): the first 20 bytes
// of SHA-256 over the 33-byte compressed public key, written in bech32m
// with the prefix "ehr" (ehr1…), as the ledger, the CLI and the gateway do.

import { sha256 } from "@noble/hashes/sha2.js";
import { bech32m } from "@scure/base";

import { fromHex } from "../crypto/bytes";

export const ADDRESS_PREFIX = "ehr";

export function addressOf(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 33) {
    throw new Error(`a public key has 33 bytes (compressed); this one has ${publicKey.length}`);
  }
  return sha256(publicKey).slice(0, 20);
}

/** The written form, `ehr1…`. */
export function addressText(address: Uint8Array): string {
  return bech32m.encode(ADDRESS_PREFIX, bech32m.toWords(address));
}

/** The 33 bytes of a written compressed secp256k1 public key, or why `what` is not one. */
export function parsePublicKey(text: string, what: string): Uint8Array {
  const hex = text.trim();
  if (!/^(02|03)[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`${what} is 66 hex digits (33 bytes, compressed: starting 02 or 03)`);
  return fromHex(hex);
}

/** The 20 bytes of a written address, or why it is not one. */
export function parseAddress(text: string): Uint8Array {
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32m.decode(text.trim() as `${string}1${string}`);
  } catch {
    throw new Error(`${text} is not an address (ehr1… in bech32m)`);
  }
  if (decoded.prefix !== ADDRESS_PREFIX) {
    throw new Error(`${text} is an address of "${decoded.prefix}", not of this ledger ("${ADDRESS_PREFIX}")`);
  }
  const bytes = bech32m.fromWords(decoded.words);
  if (bytes.length !== 20) {
    throw new Error(`${text} holds ${bytes.length} bytes; an address holds 20`);
  }
  return bytes;
}
