// Opening and verifying a record in the page, as the CLI does
// (client/src/read_path/open.rs): nothing the gateway says is taken on
// trust. The ciphertext must hash to its Merkle leaf and decrypt with the
// key wrapped for this reader (AES-GCM authenticates it and the record id);
// the device's signature must verify with the key bound on chain; that
// device must be bound to the patient asked about; the leaf's path must
// lead to the root the chain anchored. Devices and anchors are read with
// state proofs, checked against the app hash of the block after, under the
// state key derived here from the path asked (ledger/keys.ts).
//
// What the page does not do (yet) is check that block's header by the
// validators' signatures, as the CLI's light client does: the app hash is
// the one the gateway's chain node reports (docs/portal.md says so).

import { type DescMessage, type MessageShape, fromBinary } from "@bufbuild/protobuf";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64 } from "@scure/base";

import { equal, fromHex, utf8 } from "../crypto/bytes";
import { unwrapKey } from "../crypto/keywrap";
import { openRecord } from "../crypto/record";
import { type Reading, ReadingSchema, SignedReadingSchema } from "../gen/ehr/v1/reading_pb";
import { DeviceSchema, type Erasure, ErasureSchema, StoredBatchAnchorSchema, type StoredRecordAnchor, StoredRecordAnchorSchema } from "../gen/ehr/v1/state_pb";
import { Category } from "../gen/ehr/v1/types_pb";
import { ChainError, appHashAfter, queryRaw } from "../chain/rpc";
import type { RecordItem } from "../gateway/client";
import { addressText } from "../ledger/address";
import { stateKey } from "../ledger/keys";
import { verifyPath } from "../ledger/merkle";
import { verifyStateProof } from "../ledger/stateproof";
import { covers } from "./erasure";

/**
 * verified: every check holds; erased: its anchor holds and an erasure on
 * chain covers it (nothing of it is left to open); pending: not checked against the chain yet
 * (its batch not anchored, or the chain not answering); no-key: not
 * decryptable by this reader; failed: a check failed.
 */
export type Verdict = "verified" | "erased" | "pending" | "no-key" | "failed";

export interface Checked {
  item: RecordItem;
  verdict: Verdict;
  /** Why, when not verified. */
  reason: string;
  reading: Reading | null;
  /** The erasure that covers it, when erased. */
  erasure?: Erasure;
}

class Refused extends Error {}

/** Checks `items`, up to `parallel` at a time; the verdicts in the items' order. */
export async function checkAll(verifier: Verifier, items: RecordItem[], parallel = 8): Promise<Checked[]> {
  const out: Checked[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await verifier.check(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
  return out;
}

/** Verifies records of one patient, remembering what it already asked the chain. */
export class Verifier {
  private devices = new Map<string, Promise<{ publicKey: Uint8Array; patient: Uint8Array }>>();
  private anchors = new Map<string, Promise<{ root: Uint8Array; count: number; height: number }>>();
  private appHashes = new Map<string, Promise<Uint8Array>>();
  private pinned: number | null = null;

  constructor(
    private readonly secret: Uint8Array,
    private readonly patient: Uint8Array,
  ) {}

  async check(item: RecordItem): Promise<Checked> {
    let reading: Reading | null = null;
    try {
      const leaf = fromHex(item.ciphertext_sha256);
      const ciphertext = base64.decode(item.ciphertext);
      if (item.erasure_id != null) return await this.checkErased(item, leaf);
      if (!equal(sha256(ciphertext), leaf)) {
        throw new Refused("the ciphertext's SHA-256 is not the record's: it was altered in storage or on the way");
      }
      if (!item.wrapped_key) {
        return {
          item,
          verdict: "no-key",
          reason: "no key is wrapped for you: if the patient granted you access after it was written, ask them to re-wrap past records for you",
          reading: null,
        };
      }
      const dataKey = await unwrapKey(this.secret, item.key_id, base64.decode(item.wrapped_key));
      const signed = fromBinary(SignedReadingSchema, await openRecord(dataKey, item.record_id, ciphertext));
      reading = fromBinary(ReadingSchema, signed.reading);
      if (reading.deviceId !== item.device_id) {
        throw new Refused(`the decrypted reading is not one of device ${item.device_id}`);
      }
      await this.checkDevice(reading.deviceId, signed.reading, signed.signature);
      if (!item.anchor) {
        return { item, verdict: "pending", reason: "its batch is not anchored on chain yet; look again in a few seconds", reading };
      }
      const height = await this.batchAnchor(item, leaf);
      return { item, verdict: "verified", reason: `anchored at height ${height}`, reading };
    } catch (e) {
      // The chain not answering proves nothing either way: not failed, not checked yet.
      if (e instanceof ChainError) {
        return { item, verdict: "pending", reason: `not checked against the chain yet (${e.message})`, reading };
      }
      return { item, verdict: "failed", reason: e instanceof Error ? e.message : String(e), reading };
    }
  }

  /**
   * An erased reading: nothing to open, but its hash must still be the leaf
   * anchored, and an erasure of this patient on chain must cover it — else
   * it is a record withheld, not erased.
   */
  private async checkErased(item: RecordItem, leaf: Uint8Array): Promise<Checked> {
    if (!item.anchor) throw new Refused("served as erased, but with no anchor to show which record it was");
    const height = await this.batchAnchor(item, leaf);
    const erasure = await this.erasure(Number(item.erasure_id), item.record_id, Category.VITALS, height);
    return { item, verdict: "erased", reason: `anchored at height ${height}`, reading: null, erasure };
  }

  /** The item's Merkle path against its batch's root on chain; the anchor's height. */
  private async batchAnchor(item: RecordItem, leaf: Uint8Array): Promise<number> {
    const a = item.anchor as NonNullable<RecordItem["anchor"]>;
    const anchor = await this.anchor(a.service, a.batch_id);
    if (!verifyPath(anchor.root, leaf, a.leaf_index, anchor.count, a.path.map(fromHex))) {
      throw new Refused(
        `its Merkle path does not lead to the root anchored on chain at height ${anchor.height}: it is not the record anchored`,
      );
    }
    return anchor.height;
  }

  /**
   * Erasure `id` on chain (proven), checked to be this patient's and to
   * cover the record anchored at `anchorHeight`.
   */
  async erasure(id: number, recordId: string, category: Category, anchorHeight: number): Promise<Erasure> {
    let e = await this.proven(ErasureSchema, `/erasure/${id}`);
    if (!e) {
      this.pinned = null;
      e = await this.proven(ErasureSchema, `/erasure/${id}`);
    }
    if (!e || !equal(e.patient, this.patient) || !covers(e, recordId, category, anchorHeight)) {
      throw new Refused(`record ${recordId} is served as erased, but no erasure of this patient on chain covers it: it is withheld, not erased`);
    }
    return e;
  }

  /**
   * A document's ciphertext hash against its anchor on chain (/record/<id>,
   * proven): the same hash, this patient, the category served. The anchor
   * (its height, and what amends or supersedes it); a Refused error saying
   * what differs otherwise.
   */
  async documentAnchor(recordId: string, ciphertextSha256: Uint8Array, category: Category): Promise<StoredRecordAnchor> {
    let anchor = await this.proven(StoredRecordAnchorSchema, `/record/${recordId}`);
    if (!anchor) {
      // Anchored after the pinned height: ask at the latest.
      this.pinned = null;
      anchor = await this.proven(StoredRecordAnchorSchema, `/record/${recordId}`);
    }
    if (!anchor?.record) throw new Refused(`the chain anchors no record ${recordId}: it was never anchored, or not yet`);
    const r = anchor.record;
    if (!equal(r.ciphertextSha256, ciphertextSha256) || !equal(r.patient, this.patient) || r.category !== category) {
      throw new Refused(`record ${recordId} is anchored on chain with another hash, patient or category: the stored document is not the one anchored`);
    }
    return anchor;
  }

  private async checkDevice(id: string, signedBytes: Uint8Array, signature: Uint8Array): Promise<void> {
    const device = await once(this.devices, id, async () => {
      const d = await this.proven(DeviceSchema, `/device/${id}`);
      if (!d) throw new Refused(`device ${id} is not known on chain`);
      return { publicKey: d.publicKey, patient: d.patient };
    });
    if (!equal(device.patient, this.patient)) {
      throw new Refused(
        `device ${id} is bound on chain to ${addressText(device.patient)}, not to this patient: the record was moved or mislabelled in storage`,
      );
    }
    let valid = false;
    try {
      valid = secp256k1.verify(signature, signedBytes, device.publicKey, { prehash: true, lowS: false, format: "compact" });
    } catch {
      valid = false;
    }
    if (!valid) throw new Refused(`the device's signature does not verify with the key bound on chain for ${id}`);
  }

  private anchor(service: string, batchId: number) {
    return once(this.anchors, `${service}/${batchId}`, async () => {
      const stored = await this.proven(StoredBatchAnchorSchema, `/batch/${service}/${batchId}`);
      if (!stored) throw new Refused(`the chain holds no anchor for batch ${batchId} of service ${service}`);
      return { root: stored.merkleRoot, count: stored.recordCount, height: Number(stored.height) };
    });
  }

  /**
   * A single-record path, its proof checked against the app hash. Asked at
   * one pinned height, so that one app hash serves many answers; what is
   * not there yet is asked again at the latest height, which is pinned then.
   */
  private async proven<D extends DescMessage>(schema: D, path: string): Promise<MessageShape<D> | null> {
    let answer = await queryRaw(path, this.pinned ?? 0, true);
    if (answer.value === null && this.pinned !== null) answer = await queryRaw(path, 0, true);
    this.pinned = answer.height;
    if (!answer.proof) throw new Refused(`the chain answered ${path} without a proof`);
    const appHash = await once(this.appHashes, String(answer.height), () => appHashAfter(answer.height));
    try {
      // Against the key derived here from the path asked, not the one the node names.
      verifyStateProof(appHash, utf8(stateKey(path)), answer.value, answer.proof);
    } catch (e) {
      throw new Refused(`the chain's proof for ${path} does not verify against the app hash at height ${answer.height} (${(e as Error).message})`);
    }
    return answer.value === null ? null : fromBinary(schema, answer.value);
  }
}

/** The value under `key`, made once: callers at the same time share one request. */
function once<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = make();
    cache.set(key, p);
    // A failure (the chain unreachable a moment) is not remembered.
    p.catch(() => cache.delete(key));
  }
  return p;
}
