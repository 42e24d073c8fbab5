// Who a patient is, as the page reads it (client/src/read_path/demographics.rs):
// their sealed demographics, fetched through the gateway (a read it logs on
// chain), each opened here and checked against its anchor; of those that
// verify, the one anchored last (by the chain's height) is current. Nothing
// here is taken on the gateway's word.

import { documentReaders } from "../chain/readers";
import { ChainError } from "../chain/rpc";
import { send } from "../chain/send";
import { fromHex } from "../crypto/bytes";
import { publicKeyOf } from "../crypto/vault";
import { gatewayGet, gatewayPost } from "../gateway/client";
import { Category } from "../gen/ehr/v1/types_pb";
import { parseAddress } from "../ledger/address";
import { type Demographics, type DocumentItem, fullName, openDocument, sealDocument } from "./documents";
import { Verifier } from "./verify";

/** The patient's current demographics as `secret` opens them; null when none are readable. */
export async function currentDemographics(secret: Uint8Array, patient: string): Promise<Demographics | null> {
  const { documents } = await gatewayGet<{ documents: DocumentItem[] }>(secret, `/v1/patients/${patient}/documents?category=demographics`);
  const verifier = new Verifier(secret, parseAddress(patient));
  let newest: { at: [number, number]; d: Demographics } | null = null;
  // The chain not answering (or its next header not there yet) proves
  // nothing: when no version could be checked for that reason, say so.
  let unchecked: unknown = null;
  for (const item of documents) {
    try {
      const doc = await openDocument(item, secret, patient);
      if (doc.content.kind !== "demographics") continue;
      const anchor = await verifier.documentAnchor(item.record_id, fromHex(item.ciphertext_sha256), Category.DEMOGRAPHICS);
      // A version an accepted amendment corrected is not who they are.
      if (anchor.supersededBy) continue;
      const at: [number, number] = [Number(anchor.height), item.seq];
      if (!newest || at[0] > newest.at[0] || (at[0] === newest.at[0] && at[1] > newest.at[1])) newest = { at, d: doc.content };
    } catch (e) {
      // A version that does not open or verify is not who they are.
      if (e instanceof ChainError) unchecked = e;
    }
  }
  if (!newest && unchecked) throw unchecked;
  return newest?.d ?? null;
}

/** The patient's name as `secret` may read it, or null; never throws (a refusal means no name). */
export async function nameOf(secret: Uint8Array, patient: string): Promise<string | null> {
  for (let attempt = 0; ; attempt++) {
    try {
      const d = await currentDemographics(secret, patient);
      return d ? fullName(d) : null;
    } catch (e) {
      // Asked again, a little later, only when the chain could not check
      // (each ask is a read in her trail).
      if (!(e instanceof ChainError) || attempt >= 2) return null;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/**
 * Seals `d` as the patient's current details, written by `secret` (the
 * patient or guardian), for everyone who may read them now — a new grantee
 * included — and anchors it; the height it was anchored at.
 */
export async function sealDemographics(secret: Uint8Array, author: string, patient: string, d: Demographics): Promise<number> {
  const me = { address: author, publicKey: publicKeyOf(secret) };
  const readers = await documentReaders(patient, me, Category.DEMOGRAPHICS);
  const sealed = await sealDocument({ kind: "demographics", ...d }, patient, readers, Math.floor(Date.now() / 1000));
  await gatewayPost(secret, `/v1/patients/${patient}/documents`, sealed.upload);
  const committed = await send(secret, { case: "anchorRecord", value: { record: sealed.anchor } });
  return committed.height;
}
