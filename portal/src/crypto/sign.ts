// Signatures as the ledger makes them (SecretKey::sign in
// abci-app/core/src/crypto/keys.rs): ECDSA on secp256k1 over SHA-256 of the
// message, RFC 6979 nonces, low S, 64 bytes r ‖ s. Transactions and
// gateway requests are both signed so.

import { secp256k1 } from "@noble/curves/secp256k1.js";

export function signMessage(secret: Uint8Array, message: Uint8Array): Uint8Array {
  return secp256k1.sign(message, secret, { prehash: true, lowS: true, format: "compact" });
}
