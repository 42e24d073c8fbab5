// Sending a transaction from the page: signed here with the account's next
// nonce, broadcast through the relay, and followed until its block commits.
// A refusal — by CheckTx or in the block — is thrown as the chain's sentence.

import { sha256 } from "@noble/hashes/sha2.js";
import { base64 } from "@scure/base";

import { AccountSchema } from "../gen/ehr/v1/state_pb";
import { publicKeyOf } from "../crypto/vault";
import { addressOf, addressText } from "../ledger/address";
import { type ActionKind, signTransaction } from "../ledger/tx";
import { ChainError, call, query, status } from "./rpc";

export interface Committed {
  height: number;
  hash: string;
}

/** One transaction at a time from this page, so nonces follow each other. */
let queue: Promise<unknown> = Promise.resolve();

export function send(secret: Uint8Array, kind: ActionKind): Promise<Committed> {
  const next = queue.then(() => sendNow(secret, kind));
  queue = next.catch(() => undefined);
  return next;
}

async function sendNow(secret: Uint8Array, kind: ActionKind): Promise<Committed> {
  // Nonces are the key's, not the person's: a rotated key starts at 1.
  const key = addressText(addressOf(publicKeyOf(secret)));
  const [{ chainId }, account] = await Promise.all([status(), query(AccountSchema, `/account/${key}`)]);
  const tx = signTransaction(secret, chainId, (account?.nonce ?? 0n) + 1n, kind);
  const checked = await call("broadcast_tx_sync", { tx: base64.encode(tx) });
  if (checked.code !== 0) {
    throw new ChainError(checked.log || `the chain refused the transaction (code ${checked.code})`);
  }
  const hash = base64.encode(sha256(tx));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const found = await call("tx", { hash, prove: false }).catch(() => null);
    if (found) {
      if (found.tx_result.code !== 0) {
        throw new ChainError(found.tx_result.log || `the block refused the transaction (code ${found.tx_result.code})`);
      }
      return { height: Number(found.height), hash: checked.hash };
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new ChainError("the transaction was accepted but not committed within 30 s; look again before sending it twice");
}
