// Signed requests to the record gateway (client/src/read_path/request_auth.rs,
// docs/gateway.md): the caller signs, with ECDSA over SHA-256,
//
//   "ehr-request-v2\n" AUDIENCE "\n" METHOD "\n" PATH_AND_QUERY "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA-256(body))
//
// where AUDIENCE is the gateway's own address (its /health names it), so a
// request captured on its way cannot be replayed to another gateway, and
// the nonce is 16 random bytes the gateway never accepts twice.

import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { toHex, utf8 } from "../crypto/bytes";
import { signMessage } from "../crypto/sign";

export type SignedHeaders = {
  "x-ehr-audience": string;
  "x-ehr-public-key": string;
  "x-ehr-timestamp": string;
  "x-ehr-nonce": string;
  "x-ehr-signature": string;
};

export interface Request {
  /** The gateway's address, `ehr1…`. */
  audience: string;
  method: string;
  /** The path with its query, as sent: `/v1/patients/ehr1…/records?category=vitals`. */
  pathAndQuery: string;
  body?: Uint8Array;
}

export function signRequest(
  secret: Uint8Array,
  request: Request,
  nowMs: number = Date.now(),
  nonce: string = toHex(crypto.getRandomValues(new Uint8Array(16))),
): SignedHeaders {
  const timestamp = String(nowMs);
  const canonical = [
    "ehr-request-v2",
    request.audience,
    request.method.toUpperCase(),
    request.pathAndQuery,
    timestamp,
    nonce,
    toHex(sha256(request.body ?? new Uint8Array())),
  ].join("\n");
  const signature = signMessage(secret, utf8(canonical));
  return {
    "x-ehr-audience": request.audience,
    "x-ehr-public-key": toHex(secp256k1.getPublicKey(secret, true)),
    "x-ehr-timestamp": timestamp,
    "x-ehr-nonce": nonce,
    "x-ehr-signature": toHex(signature),
  };
}
