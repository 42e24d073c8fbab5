// Clinical documents sealed in the page: opened by each reader they were
// sealed for, refused to anyone else, when altered, or shown as another
// patient's; the drug never in the ciphertext.

import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64 } from "@scure/base";
import { describe, expect, it } from "vitest";

import { toHex, utf8 } from "../src/crypto/bytes";
import { addressOf, addressText } from "../src/ledger/address";
import { type Content, type DocumentItem, correctionId, describe as describeContent, openDocument, sealDocument } from "../src/records/documents";
import { Category } from "../src/gen/ehr/v1/types_pb";

const person = (seed: string) => {
  const secret = sha256(utf8(seed));
  const publicKey = secp256k1.getPublicKey(secret, true);
  return { secret, publicKey, address: addressText(addressOf(publicKey)) };
};
const [patient, doctor, stranger, bob] = ["patient", "doctor", "stranger", "bob"].map(person);
const amlodipine: Content = { kind: "prescription", drug_code: "197361", dose: "5", unit: "mg", quantity: 30, refills: 0 };

async function sealedFor(content: Content) {
  const sealed = await sealDocument(content, patient.address, [patient, doctor, doctor], 1_796_000_000);
  const item = (reader: string): DocumentItem => ({
    record_id: sealed.recordId,
    seq: 1,
    category: sealed.upload.category,
    author: doctor.address,
    stored_at_ms: 0,
    ciphertext: sealed.upload.ciphertext,
    ciphertext_sha256: toHex(sealed.anchor.ciphertextSha256),
    wrapped_key: sealed.upload.wraps.find((w) => w.reader === reader)?.wrapped_key ?? null,
  });
  return { sealed, item };
}

describe("clinical documents", () => {
  it("seal an amendment's words in the category of the record they are about, and a decider's under the amendment's name", async () => {
    const request: Content = { kind: "statement", about: "rx-1", purpose: "amendment_request", category: "medications", text: "the dose is 2.5 mg" };
    const asked = await sealDocument(request, patient.address, [patient], 1_796_000_000);
    expect(asked.recordId).toMatch(/^statement-[0-9a-f]{24}$/);
    expect([asked.anchor.category, asked.upload.category]).toEqual([Category.MEDICATIONS, "medications"]);
    expect(asked.upload.amendment_id).toBeUndefined();
    const corrected = await sealDocument({ ...amlodipine, dose: "2.5" }, patient.address, [doctor], 1_796_000_000, {
      recordId: correctionId(7),
      amendmentId: 7,
    });
    expect([corrected.recordId, corrected.upload.record_id, corrected.anchor.recordId]).toEqual(["correction-7", "correction-7", "correction-7"]);
    expect(corrected.upload.amendment_id).toBe(7);
    expect(corrected.anchor.category).toBe(Category.MEDICATIONS);
  });

  it("anchor what the gateway stores: its hash, size, patient and category; one wrap per reader", async () => {
    const { sealed } = await sealedFor(amlodipine);
    const ciphertext = base64.decode(sealed.upload.ciphertext);
    expect(sealed.recordId).toMatch(/^rx-[0-9a-f]{24}$/);
    expect(toHex(sealed.anchor.ciphertextSha256)).toBe(toHex(sha256(ciphertext)));
    expect(sealed.anchor.size).toBe(BigInt(ciphertext.length));
    expect(sealed.anchor.category).toBe(Category.MEDICATIONS);
    expect(sealed.upload.category).toBe("medications");
    expect(sealed.anchor.locator).toBe(`gateway://documents/${sealed.recordId}`);
    expect(sealed.upload.wraps.map((w) => w.reader)).toEqual([patient.address, doctor.address]);
    expect(new TextDecoder("latin1").decode(ciphertext)).not.toContain("197361");
  });

  it("open for the patient and the author, with the content as written", async () => {
    const { item } = await sealedFor(amlodipine);
    for (const reader of [patient, doctor]) {
      const doc = await openDocument(item(reader.address), reader.secret, patient.address);
      expect(doc.content).toEqual(amlodipine);
      expect(doc.patient).toBe(patient.address);
    }
    const order = await sealedFor({ kind: "lab_order", test_code: "2345-7", lab_org: "general" });
    expect(order.sealed.recordId).toMatch(/^order-/);
    expect(order.sealed.anchor.category).toBe(Category.LABS);
  });

  it("seal who a patient is as the CLI does: kind demographics, its fields beside it, in its own category", async () => {
    const alice: Content = { kind: "demographics", given: ["Alice"], family: "Martin", birth_date: "1984-03-07", gender: "female", mrns: [{ organisation: "general", value: "G-00042" }] };
    const { sealed, item } = await sealedFor(alice);
    expect(sealed.recordId).toMatch(/^pt-[0-9a-f]{24}$/);
    expect(sealed.anchor.category).toBe(Category.DEMOGRAPHICS);
    expect(sealed.upload.category).toBe("demographics");
    expect(new TextDecoder("latin1").decode(base64.decode(sealed.upload.ciphertext))).not.toContain("Martin");
    const doc = await openDocument(item(doctor.address), doctor.secret, patient.address);
    expect(doc.content).toEqual(alice);
    expect(describeContent(doc.content)).toBe("details: Alice Martin, born 1984-03-07");
  });

  it("refuse a reader they were not sealed for, an altered ciphertext, and another patient's name", async () => {
    const { item } = await sealedFor(amlodipine);
    await expect(openDocument(item(stranger.address), stranger.secret, patient.address)).rejects.toThrow(/no key is wrapped for you/);
    await expect(openDocument(item(doctor.address), stranger.secret, patient.address)).rejects.toThrow(/not wrapped for this key/);
    const altered = item(doctor.address);
    const bytes = base64.decode(altered.ciphertext);
    bytes[20] ^= 1;
    await expect(openDocument({ ...altered, ciphertext: base64.encode(bytes) }, doctor.secret, patient.address)).rejects.toThrow(/SHA-256 is not the document's/);
    await expect(
      openDocument({ ...altered, ciphertext: base64.encode(bytes), ciphertext_sha256: toHex(sha256(bytes)) }, doctor.secret, patient.address),
    ).rejects.toThrow(/does not open with its key/);
    await expect(openDocument(item(doctor.address), doctor.secret, bob.address)).rejects.toThrow(/written for .* not for this patient/);
  });
});
