// Clinical documents — what a doctor prescribes or orders — as the page
// writes and reads them, the format of client/src/read_path/documents.rs:
// the content is health data, so it never reaches the chain. The author's
// page encrypts it under a fresh data key (AES-256-GCM, the record id in
// the AAD), wraps that key under the record id for each reader, stores the
// ciphertext with the gateway, and the transaction anchors its hash.

import { sha256 } from "@noble/hashes/sha2.js";
import { base64 } from "@scure/base";

import { equal, fromHex, toHex, utf8 } from "../crypto/bytes";
import { unwrapKey, wrapKey } from "../crypto/keywrap";
import { openRecord, sealRecord } from "../crypto/record";
import { Category } from "../gen/ehr/v1/types_pb";
import { parseAddress } from "../ledger/address";
import type { Reader } from "../chain/readers";

export type Content =
  | { kind: "prescription"; drug_code: string; dose: string; unit: string; quantity: number; refills: number }
  | { kind: "lab_order"; test_code: string; lab_org: string }
  | { kind: "lab_result"; order_id: number; test_code: string; value: string; unit: string }
  | ({ kind: "demographics" } & Demographics)
  /** Words about a record of an amendment: her request, a denial's explanation, her disagreement. */
  | { kind: "statement"; about: string; purpose: string; category: string; text: string };

/** What a person reads for a statement's purpose (client/src/read_path/documents.rs). */
const STATEMENT_PURPOSES: Record<string, string> = {
  amendment_request: "request to amend",
  denial_explanation: "why the amendment was denied",
  disagreement: "statement of disagreement",
};

/** Who a patient is (client/src/read_path/demographics.rs). */
export interface Demographics {
  given: string[];
  family: string;
  /** YYYY-MM-DD. */
  birth_date: string | null;
  gender: string | null;
  mrns: { organisation: string; value: string }[];
}

/** "Given Family", as a person says it. */
export const fullName = (d: Demographics) => [...d.given, d.family].filter((p) => p.trim() !== "").join(" ");

/** The plaintext: the content and whose it is. */
export interface Document {
  patient: string;
  content: Content;
  /** Unix seconds on the author's clock. */
  written_at: number;
}

const KIND: Record<Content["kind"], [Category, string, string]> = {
  prescription: [Category.MEDICATIONS, "medications", "rx"],
  lab_order: [Category.LABS, "labs", "order"],
  lab_result: [Category.LABS, "labs", "result"],
  demographics: [Category.DEMOGRAPHICS, "demographics", "pt"],
  // A statement is in the category of the record it is about.
  statement: [Category.NOTES, "notes", "statement"],
};

export const CATEGORY_NAMED: Record<string, Category> = {
  labs: Category.LABS,
  medications: Category.MEDICATIONS,
  notes: Category.NOTES,
  imaging: Category.IMAGING,
  demographics: Category.DEMOGRAPHICS,
  vitals: Category.VITALS,
};

/** The name a category goes by in the gateway's API ("labs", "notes" …). */
export const categoryNameOf = (category: Category) => Object.entries(CATEGORY_NAMED).find(([, c]) => c === category)?.[0] ?? "notes";

export const categoryOf = (c: Content) => (c.kind === "statement" ? (CATEGORY_NAMED[c.category] ?? Category.NOTES) : KIND[c.kind][0]);

export function describe(c: Content): string {
  switch (c.kind) {
    case "prescription":
      return `prescription: RxNorm ${c.drug_code}, ${c.dose} ${c.unit} × ${c.quantity}, ${c.refills} refill(s)`;
    case "lab_order":
      return `lab order: LOINC ${c.test_code} at ${c.lab_org}`;
    case "lab_result":
      return `lab result of order ${c.order_id}: LOINC ${c.test_code} ${c.value} ${c.unit}`;
    case "demographics":
      return `details: ${fullName(c)}${c.birth_date ? `, born ${c.birth_date}` : ""}`;
    case "statement":
      return `${STATEMENT_PURPOSES[c.purpose] ?? c.purpose} ${c.about}: ${c.text}`;
  }
}

/** What the gateway stores (POST /v1/patients/{patient}/documents) and what the transaction anchors. */
export interface Sealed {
  recordId: string;
  upload: {
    record_id: string;
    category: string;
    ciphertext: string;
    wraps: { reader: string; wrapped_key: string }[];
    order_id?: number;
    amendment_id?: number;
  };
  anchor: { recordId: string; patient: Uint8Array; category: Category; ciphertextSha256: Uint8Array; size: bigint; locator: string };
}

/**
 * A record an amendment's decider writes: the correction (`correction-<id>`)
 * or the denial's explanation (`denial-<id>`), stored by the gateway under
 * that name once it has checked the amendment is theirs to decide.
 */
export interface ForAmendment {
  recordId: string;
  amendmentId: number;
}

export const correctionId = (amendment: number) => `correction-${amendment}`;
export const denialId = (amendment: number) => `denial-${amendment}`;

export async function sealDocument(content: Content, patient: string, readers: Reader[], writtenAt: number, named?: ForAmendment): Promise<Sealed> {
  const prefix = KIND[content.kind][2];
  const category = categoryOf(content);
  const categoryName = categoryNameOf(category);
  // A lab's result is named by its order: one result per order (the gateway stores it by that name only).
  const recordId =
    named?.recordId ??
    (content.kind === "lab_result" ? `result-${content.order_id}` : `${prefix}-${toHex(crypto.getRandomValues(new Uint8Array(12)))}`);
  const plain: Document = { patient, content, written_at: writtenAt };
  const dataKey = crypto.getRandomValues(new Uint8Array(32));
  const ciphertext = await sealRecord(dataKey, recordId, utf8(JSON.stringify(plain)));
  const wraps: Sealed["upload"]["wraps"] = [];
  for (const r of readers) {
    if (wraps.some((w) => w.reader === r.address)) continue;
    wraps.push({ reader: r.address, wrapped_key: base64.encode(await wrapKey(2, r.publicKey, recordId, dataKey)) });
  }
  dataKey.fill(0);
  return {
    recordId,
    upload: {
      record_id: recordId,
      category: categoryName,
      ciphertext: base64.encode(ciphertext),
      wraps,
      ...(named ? { amendment_id: named.amendmentId } : {}),
    },
    anchor: {
      recordId,
      patient: parseAddress(patient),
      category,
      ciphertextSha256: sha256(ciphertext),
      size: BigInt(ciphertext.length),
      locator: `gateway://documents/${recordId}`,
    },
  };
}

/** A document as GET /v1/patients/{patient}/documents serves it. */
export interface DocumentItem {
  record_id: string;
  seq: number;
  category: string;
  author: string;
  stored_at_ms: number;
  ciphertext: string;
  ciphertext_sha256: string;
  wrapped_key: string | null;
  /** Erased: the erasure on chain that shredded it. */
  erasure_id?: number | null;
}

/** Checks the ciphertext against its hash, opens it with the reader's key, and checks it names `patient`. */
export async function openDocument(item: DocumentItem, secret: Uint8Array, patient: string): Promise<Document> {
  const ciphertext = base64.decode(item.ciphertext);
  if (!equal(sha256(ciphertext), fromHex(item.ciphertext_sha256))) {
    throw new Error("the ciphertext's SHA-256 is not the document's: it was altered in storage or on the way");
  }
  if (!item.wrapped_key) throw new Error("no key is wrapped for you for this document");
  // A document's key is its own, wrapped under the document's record id.
  const dataKey = await unwrapKey(secret, item.record_id, base64.decode(item.wrapped_key));
  const doc = JSON.parse(new TextDecoder().decode(await openRecord(dataKey, item.record_id, ciphertext))) as Document;
  if (doc.patient !== patient) throw new Error(`the document is written for ${doc.patient}, not for this patient`);
  return doc;
}
