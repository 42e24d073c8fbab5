// Data keys wrapped for one reader: ECIES on secp256k1, the format of
// client/src/record_encryption.rs and docs/ingest.md, written here a second
// time, independently, with WebCrypto (HKDF-SHA256, AES-256-GCM) and
// @noble/curves (the ECDH):
//
//   version (1) ‖ E (33, the ephemeral public key, compressed) ‖
//   AES-256-GCM(k, n, data key, aad = "ehr-wrap-v<version>" ‖ key id)
//   where k ‖ n = HKDF-SHA256(ikm = x(e·P), salt = E ‖ P,
//                             info = "ehr-ledger key wrap v<version>"), 32 + 12 bytes
//
// Version 1 binds the key to its record's id, version 2 to a key id that
// may serve several records of one patient; both are opened.

import { secp256k1 } from "@noble/curves/secp256k1.js";

import { buffer, concat, utf8 } from "./bytes";

export const WRAPPED_KEY_LENGTH = 1 + 33 + 32 + 16;
const VERSIONS = [1, 2];

/** Why a wrapped key does not open, in a sentence a person can act on. */
export class UnwrapError extends Error {}

async function wrappingKey(
  version: number,
  shared: Uint8Array,
  ephemeral: Uint8Array,
  reader: Uint8Array,
): Promise<{ key: CryptoKey; nonce: Uint8Array }> {
  const ikm = await crypto.subtle.importKey("raw", buffer(shared), "HKDF", false, ["deriveBits"]);
  const okm = new Uint8Array(
    await crypto.subtle.deriveBits(
      {
        name: "HKDF",
        hash: "SHA-256",
        salt: buffer(concat(ephemeral, reader)),
        info: buffer(utf8(`ehr-ledger key wrap v${version}`)),
      },
      ikm,
      44 * 8,
    ),
  );
  const key = await crypto.subtle.importKey("raw", buffer(okm.slice(0, 32)), "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  return { key, nonce: okm.slice(32) };
}

/** x(d·Q): the x-coordinate of the shared point. */
function sharedX(secret: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return secp256k1.getSharedSecret(secret, publicKey, true).slice(1);
}

/**
 * Wraps `dataKey` for the reader whose compressed public key is `reader`.
 * `ephemeral` is a fresh secret key unless a test fixes it.
 */
export async function wrapKey(
  version: number,
  reader: Uint8Array,
  keyId: string,
  dataKey: Uint8Array,
  ephemeral: Uint8Array = secp256k1.utils.randomSecretKey(),
): Promise<Uint8Array> {
  if (!VERSIONS.includes(version)) {
    throw new Error(`wrap version ${version} does not exist (1 and 2 do)`);
  }
  const E = secp256k1.getPublicKey(ephemeral, true);
  const { key, nonce } = await wrappingKey(version, sharedX(ephemeral, reader), E, reader);
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: buffer(nonce), additionalData: buffer(utf8(`ehr-wrap-v${version}${keyId}`)) },
    key,
    buffer(dataKey),
  );
  return concat(Uint8Array.of(version), E, new Uint8Array(sealed));
}

/** Opens a key wrapped for the holder of `secret`, bound to `keyId`. */
export async function unwrapKey(secret: Uint8Array, keyId: string, wrapped: Uint8Array): Promise<Uint8Array> {
  if (wrapped.length !== WRAPPED_KEY_LENGTH) {
    throw new UnwrapError(`a wrapped key has ${WRAPPED_KEY_LENGTH} bytes; this one has ${wrapped.length}`);
  }
  const version = wrapped[0];
  if (!VERSIONS.includes(version)) {
    throw new UnwrapError(`wrap version ${version} is not one this portal opens (it opens 1 and 2)`);
  }
  const E = wrapped.slice(1, 34);
  let shared: Uint8Array;
  try {
    shared = sharedX(secret, E);
  } catch {
    throw new UnwrapError("the wrapped key's ephemeral public key is not a point of secp256k1");
  }
  const reader = secp256k1.getPublicKey(secret, true);
  const { key, nonce } = await wrappingKey(version, shared, E, reader);
  try {
    const opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: buffer(nonce), additionalData: buffer(utf8(`ehr-wrap-v${version}${keyId}`)) },
      key,
      buffer(wrapped.slice(34)),
    );
    return new Uint8Array(opened);
  } catch {
    throw new UnwrapError(
      `the key ${keyId} was not wrapped for this key, or its wrap was altered: ask the patient to re-wrap it for you`,
    );
  }
}
