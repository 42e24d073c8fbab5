// The state key a query path names, derived in the page from the path it
// asked (as the ledger does: abci-app/core/src/ledger/query.rs, state_key,
// and keys.rs). A state proof is checked against this key, never against the
// key the node says it answered: a node could otherwise prove another key's
// value (another device, another batch) as the one asked for. Only the paths
// the page proves; held to client/tests/vectors/state-keys.json.

import { toHex, fromHex } from "../crypto/bytes";
import { parseAddress } from "./address";

/** The 20 bytes of an address written as ehr1… or as 40 hex digits. */
function addressBytes(text: string): Uint8Array {
  if (/^[0-9a-fA-F]{40}$/.test(text)) return fromHex(text);
  return parseAddress(text);
}

/** A u64 as the ledger writes it in keys: 20 zero-padded digits. */
function number(text: string): string {
  if (!/^\d+$/.test(text) || BigInt(text) >= 1n << 64n) throw new Error(`${text} is not a number`);
  return BigInt(text).toString().padStart(20, "0");
}

export function stateKey(path: string): string {
  const parts = path.replace(/^\/+|\/+$/g, "").split("/");
  const [kind] = parts;
  if (kind === "device" && parts.length === 2) return `device/${parts[1]}`;
  if (kind === "record" && parts.length === 2) return `record/${parts[1]}`;
  if (kind === "erasure" && parts.length === 2) return `erasure/${number(parts[1])}`;
  if (kind === "batch" && parts.length === 3) {
    return `batch/${toHex(addressBytes(parts[1]))}/${number(parts[2])}`;
  }
  throw new Error(`${path} names no state key the page proves`);
}
