// The chain, as the page reaches it: CometBFT's JSON-RPC through the
// gateway's relay (POST /chain on the page's own origin, docs/gateway.md),
// each call a request signed with the unlocked key — the relay answers a
// signer only what is theirs. Queries decode the ledger's protobuf answers
// (abci-app/core/src/ledger/query.rs); refusals keep the sentence the chain
// or the gateway gave.

import { type DescMessage, type MessageShape, fromBinary } from "@bufbuild/protobuf";
import { base64 } from "@scure/base";

import { fromHex } from "../crypto/bytes";
import { GatewayError, gatewayPost } from "../gateway/client";

/** A call the chain (or the relay) refused, with the sentence it gave (and the relay's code). */
export class ChainError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Where the relay answers: on the page's own origin. */
const RELAY = "/chain";

/** The node's answers: JSON of many shapes, read field by field where used. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** The unlocked key the page signs its chain calls with; none when locked. */
let signer: Uint8Array | null = null;

export function signChainCallsWith(secret: Uint8Array | null): void {
  signer = secret;
}

/** How often a call the relay refused for its rate is tried again. */
const RATE_RETRIES = 5;

export async function call(method: string, params: Record<string, unknown>): Promise<Json> {
  if (!signer) throw new ChainError("unlock your key first: the chain is asked only by signed requests");
  for (let attempt = 0; ; attempt++) {
    try {
      const body = await gatewayPost<{ result: Json }>(signer, RELAY, { jsonrpc: "2.0", id: 1, method, params });
      return body?.result;
    } catch (e) {
      if (!(e instanceof GatewayError)) throw e;
      if (e.code !== "rate_limited" || attempt >= RATE_RETRIES) throw new ChainError(e.message, e.code);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/**
 * A query's answer: its value's bytes (null when nothing is stored), height and
 * proof. Not the state key the node says it answered: a proof is checked
 * against the key derived from the path asked (ledger/keys.ts).
 */
export interface Answer {
  value: Uint8Array | null;
  height: number;
  proof: Uint8Array | null;
}

const b64 = (s: string | undefined | null) => (s ? base64.decode(s) : new Uint8Array());

/** Codes of queries: 0 found, 2 nothing stored; others carry a reason. */
const FOUND = 0;
const NOT_FOUND = 2;

export async function queryRaw(path: string, height = 0, prove = false): Promise<Answer> {
  const r = (await call("abci_query", { path, data: "", height: String(height), prove })).response;
  if (r.code !== FOUND && r.code !== NOT_FOUND && r.code !== undefined) {
    throw new ChainError(r.log || `the chain refused the query ${path} (code ${r.code})`);
  }
  const op = r.proofOps?.ops?.[0];
  return {
    value: r.code === NOT_FOUND ? null : b64(r.value),
    height: Number(r.height ?? 0),
    proof: op ? b64(op.data) : null,
  };
}

/** A query decoded as `schema`; null when nothing is stored. */
export async function query<D extends DescMessage>(schema: D, path: string): Promise<MessageShape<D> | null> {
  const a = await queryRaw(path);
  return a.value === null ? null : fromBinary(schema, a.value);
}

/** A list answer: a page of items and where the next page starts ("" when none). */
type Page<T> = { items: T[]; nextAfter: string };

/** The most pages of one list the page walks. */
const MAX_PAGES = 1000;

/**
 * Every item of a list path, page after page (`?after=<nextAfter>`): a list
 * holds at most 1 000 items a page, and an organisation may have more staff.
 */
export async function queryAll<T, D extends DescMessage>(schema: D, path: string): Promise<T[]> {
  const items: T[] = [];
  let after = "";
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = (await query(schema, after ? `${path}?after=${after}` : path)) as Page<T> | null;
    items.push(...(page?.items ?? []));
    const next = page?.nextAfter ?? "";
    if (!next) return items;
    if (next <= after) throw new ChainError(`the chain's pages of ${path} do not move forward`);
    after = next;
  }
  throw new ChainError(`${path} has more than ${MAX_PAGES} pages`);
}

export async function status(): Promise<{ chainId: string; height: number }> {
  const s = await call("status", {});
  return { chainId: s.node_info.network, height: Number(s.sync_info.latest_block_height) };
}

/** Waits (30 s at most) until the chain is at `height` or beyond. */
export async function untilHeight(height: number): Promise<void> {
  for (let i = 0; i < 60 && (await status()).height < height; i++) await new Promise((r) => setTimeout(r, 500));
}

/** The app hash after block `height`: in the header of block `height + 1`. */
export async function appHashAfter(height: number): Promise<Uint8Array> {
  for (let i = 0; i < 100; i++) {
    const { height: latest } = await status();
    if (latest > height) {
      const b = await call("block", { height: String(height + 1) });
      return fromHex(b.block.header.app_hash);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new ChainError(`block ${height + 1} did not come; the chain may be stalled`);
}
