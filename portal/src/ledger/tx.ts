// Signing ledger transactions in the page, as abci-app/core/src/tx/envelope.rs
// defines them: a TxBody (chain id, nonce, action) encoded in protobuf's
// canonical form (fields in order, each once, no defaults) — by the
// @bufbuild/protobuf code generated from abci-app/core/proto — signed with
// ECDSA over SHA-256(body) (RFC 6979 nonces, low S, 64 bytes r ‖ s), and
// wrapped in a SignedTx with the signer's compressed public key.
// (Addresses: ./address.ts.)

import { type MessageInitShape, create, toBinary } from "@bufbuild/protobuf";
import { secp256k1 } from "@noble/curves/secp256k1.js";

import { signMessage } from "../crypto/sign";
import { type ActionSchema, SignedTxSchema, TxBodySchema } from "../gen/ehr/v1/tx_pb";

/** What an action is: one case of the Action oneof, e.g. `{ case: "grantAccess", value: … }`. */
export type ActionKind = MessageInitShape<typeof ActionSchema>["kind"];

/** The bytes to broadcast: `action` signed by `secret` with the account's next `nonce`. */
export function signTransaction(secret: Uint8Array, chainId: string, nonce: bigint, kind: ActionKind): Uint8Array {
  const body = toBinary(TxBodySchema, create(TxBodySchema, { chainId, nonce, action: { kind } }));
  const signature = signMessage(secret, body);
  return toBinary(
    SignedTxSchema,
    create(SignedTxSchema, { body, publicKey: secp256k1.getPublicKey(secret, true), signature }),
  );
}
