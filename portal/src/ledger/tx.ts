// Signing ledger transactions in the page, as abci-app/core/src/tx/envelope.rs
// defines them: a TxBody (chain id, nonce, action) encoded in protobuf's
// canonical form (fields in order, each once, no defaults) — by the
// @bufbuild/protobuf code generated from abci-app/core/proto — signed with
// ECDSA over SHA-256(body) (RFC 6979 nonces, low S, 64 bytes r ‖ s), and
// wrapped in a SignedTx with the signer's compressed public key.

import { type MessageInitShape, create, toBinary } from "@bufbuild/protobuf";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { type ActionSchema, SignedTxSchema, TxBodySchema } from "../gen/ehr/v1/tx_pb";

/** What an action is: one case of the Action oneof, e.g. `{ case: "grantAccess", value: … }`. */
export type ActionKind = MessageInitShape<typeof ActionSchema>["kind"];

/** An account's 20-byte address: the first 20 bytes of SHA-256(compressed public key). */
export function addressOf(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 33) {
    throw new Error(`a public key has 33 bytes (compressed); this one has ${publicKey.length}`);
  }
  return sha256(publicKey).slice(0, 20);
}

/** The bytes to broadcast: `action` signed by `secret` with the account's next `nonce`. */
export function signTransaction(secret: Uint8Array, chainId: string, nonce: bigint, kind: ActionKind): Uint8Array {
  const body = toBinary(TxBodySchema, create(TxBodySchema, { chainId, nonce, action: { kind } }));
  const signature = secp256k1.sign(body, secret, { prehash: true, lowS: true, format: "compact" });
  return toBinary(
    SignedTxSchema,
    create(SignedTxSchema, { body, publicKey: secp256k1.getPublicKey(secret, true), signature }),
  );
}
