// Prescriptions and lab orders: listed for whoever may read them (each
// opened in the page and checked against its anchor on chain), and written
// by a doctor the patient lets write them — sealed in the page, stored with
// the gateway, anchored by a transaction signed here.

import { type Reader, documentReaders } from "../chain/readers";
import { ChainError } from "../chain/rpc";
import { send } from "../chain/send";
import { fromHex } from "../crypto/bytes";
import { publicKeyOf } from "../crypto/vault";
import { GatewayError, gatewayGet, gatewayPost } from "../gateway/client";
import { Category } from "../gen/ehr/v1/types_pb";
import { parseAddress } from "../ledger/address";
import { type Content, type DocumentItem, type ForAmendment, categoryOf, describe, openDocument, sealDocument } from "../records/documents";
import { Verifier } from "../records/verify";
import { activeTest } from "./codes";
import { act, alertBox, el, field, scrollable, statusBox } from "./dom";
import type { Unlocked } from "./keys";
import { refusalBox, technical } from "./refusals";
import { erasedText, timeText } from "./words";

const KINDS: [string, Category, string][] = [
  ["medications", Category.MEDICATIONS, "prescriptions"],
  ["labs", Category.LABS, "lab orders and results"],
];

/**
 * The patient's prescriptions and lab orders `u` may read, opened and
 * verified — an erased one said to be erased (when an erasure on chain
 * covers it), a corrected one marked superseded and linked to its
 * correction. The patient (or guardian) may ask to amend each (`amend`).
 */
export async function showDocuments(
  u: Unlocked,
  patient: string,
  into: HTMLElement,
  view: { name?: string; amend?: (recordId: string, what: string) => HTMLElement } = {},
): Promise<void> {
  const name = view.name;
  const verifier = new Verifier(u.secret, parseAddress(patient));
  const rows: HTMLTableRowElement[] = [];
  // One refusal per cause, naming every kind it kept from the reader.
  const refused = new Map<string, { error: unknown; kinds: string[] }>();
  for (const [kind, category, words] of KINDS) {
    let items: DocumentItem[];
    try {
      items = (await gatewayGet<{ documents: DocumentItem[] }>(u.secret, `/v1/patients/${patient}/documents?category=${kind}`)).documents;
    } catch (e) {
      const cause = e instanceof GatewayError ? e.code : "error";
      const seen = refused.get(cause) ?? { error: e, kinds: [] };
      seen.kinds.push(words);
      refused.set(cause, seen);
      continue;
    }
    for (const item of items) {
      let what = "—";
      let verdict = "verified";
      let reason = "";
      const links: (Node | string)[] = [];
      try {
        const anchor = await verifier.documentAnchor(item.record_id, fromHex(item.ciphertext_sha256), category);
        reason = `anchored at height ${anchor.height}`;
        if (item.erasure_id != null) {
          // Nothing to open: the erasure on chain must cover what was anchored.
          const erasure = await verifier.erasure(Number(item.erasure_id), item.record_id, category, Number(anchor.height));
          verdict = "erased";
          what = `${erasedText(erasure)}: nothing of it is left to open`;
        } else {
          const doc = await openDocument(item, u.secret, patient);
          what = describe(doc.content);
          if (anchor.supersededBy) {
            verdict = "superseded";
            links.push(el("br"), el("small", { className: "superseded" }, `Superseded by ${anchor.supersededBy}: read the correction, not this.`));
          } else if (anchor.amends) {
            links.push(el("br"), el("small", {}, `Corrects ${anchor.amends} (amendment ${anchor.amendmentId}).`));
          }
          if (view.amend && !anchor.supersededBy && doc.content.kind !== "statement") links.push(el("br"), view.amend(item.record_id, what));
        }
      } catch (e) {
        // The chain not answering proves nothing either way.
        verdict = e instanceof ChainError ? "not checked" : "FAILED";
        reason = (e as Error).message;
      }
      rows.push(
        el(
          "tr",
          { dataset: { record: item.record_id, verdict: verdict.toLowerCase() } },
          el("td", {}, timeText(item.stored_at_ms)),
          el("td", {}, what, ...links),
          el("td", { className: "address" }, item.author),
          el("td", {}, el("strong", {}, verdict), el("br"), verdict === "FAILED" ? el("small", {}, "Not what its author sealed or the ledger anchored: do not rely on it.") : "", technical(reason)),
        ),
      );
    }
  }
  const mine = patient === u.address;
  const refusals = [...refused.values()].map(({ error, kinds }) =>
    refusalBox(error, { name, what: `${mine ? "your" : "their"} ${kinds.join(" or ")}` }),
  );
  const table =
    rows.length === 0
      ? el("p", {}, refused.size === 0 ? "No prescription or lab order yet." : "")
      : scrollable(
          el(
            "table",
            { dataset: { testid: "documents" } },
            el("caption", {}, "Prescriptions and lab orders, sealed off chain, their hashes anchored on chain"),
            el("thead", {}, el("tr", {}, ...["Written", "What", "By", "Verified"].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, ...rows),
          ),
        );
  into.replaceChildren(table, ...refusals);
}

type Anchor = Awaited<ReturnType<typeof sealDocument>>["anchor"];

/**
 * Seals `content` in the page for the patient's readers as the chain names
 * them (and `also`), stores it with the gateway (a lab's result by its
 * `orderId`, an amendment's correction or explanation by its name), and anchors it with the transaction `kind` makes of its anchor.
 */
export async function writeDocument(
  u: Unlocked,
  patient: string,
  content: Content,
  kind: (anchor: Anchor) => Parameters<typeof send>[1],
  also: Reader[] = [],
  orderId?: number,
  named?: ForAmendment,
): Promise<{ height: number; readers: number }> {
  const author = { address: u.address, publicKey: publicKeyOf(u.secret) };
  const readers = await documentReaders(patient, author, categoryOf(content), also);
  const sealed = await sealDocument(content, patient, readers, Math.floor(Date.now() / 1000), named);
  await gatewayPost(u.secret, `/v1/patients/${patient}/documents`, orderId === undefined ? sealed.upload : { ...sealed.upload, order_id: orderId });
  const committed = await send(u.secret, kind(sealed.anchor));
  return { height: committed.height, readers: sealed.upload.wraps.length };
}

/** A doctor's forms: prescribe, order a lab test. `done` runs after either is anchored. */
export function writeForms(u: Unlocked, patient: string, done: () => void): HTMLElement {
  const alert = alertBox();
  const status = statusBox();
  const write = async (content: Content, kind: (anchor: Anchor) => Parameters<typeof send>[1]) => {
    const written = await writeDocument(u, patient, content, kind);
    done();
    return `Written and anchored at height ${written.height}: ${describe(content)}, sealed for ${written.readers} readers.`;
  };

  const [drugLabel, drug] = field("rx-drug", "Drug (RxNorm code)");
  const [doseLabel, dose] = field("rx-dose", "Dose");
  const [unitLabel, unit] = field("rx-unit", "Unit (UCUM, e.g. mg)");
  const [quantityLabel, quantity] = field("rx-quantity", "Quantity", "number");
  const [refillsLabel, refills] = field("rx-refills", "Refills", "number");
  const [validLabel, valid] = field("rx-days", "Valid for (days)", "number");
  refills.value = "0";
  valid.value = "90";
  const prescribe = el("button", { type: "submit" }, "Prescribe");
  const rx = el("form", { ariaLabel: "Prescribe" }, el("h3", {}, "Prescribe"), drugLabel, drug, doseLabel, dose, unitLabel, unit, quantityLabel, quantity, refillsLabel, refills, validLabel, valid, prescribe);
  rx.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(prescribe, alert, status, () => {
      const [q, r, d] = [Number(quantity.value), Number(refills.value), Number(valid.value)];
      if (!Number.isInteger(q) || q < 1) throw new Error("the quantity is a whole number, at least 1");
      if (!Number.isInteger(r) || r < 0) throw new Error("refills are a whole number, 0 or more");
      if (!Number.isInteger(d) || d < 1) throw new Error("the validity is a whole number of days, at least 1");
      const content: Content = { kind: "prescription", drug_code: drug.value.trim(), dose: dose.value.trim(), unit: unit.value.trim(), quantity: q, refills: r };
      return write(content, (anchor) => ({
        case: "prescribe",
        value: { patient: parseAddress(patient), refills: r, validUntil: BigInt(Math.floor(Date.now() / 1000) + d * 86_400), content: anchor },
      }));
    });
  });

  const [testLabel, test] = field("order-test", "Test (LOINC code)");
  const [labLabel, lab] = field("order-lab", "Lab (member organisation, e.g. general)");
  const order = el("button", { type: "submit" }, "Order the test");
  const lo = el("form", { ariaLabel: "Order a lab test" }, el("h3", {}, "Order a lab test"), testLabel, test, labLabel, lab, order);
  lo.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(order, alert, status, async () => {
      await activeTest(test.value.trim());
      const content: Content = { kind: "lab_order", test_code: test.value.trim(), lab_org: lab.value.trim() };
      return write(content, (anchor) => ({ case: "orderLabTest", value: { patient: parseAddress(patient), labOrg: content.lab_org, order: anchor } }));
    });
  });
  return el(
    "div",
    {},
    el("p", { className: "muted" }, "What you write is sealed in this page for the patient, you, the clinicians she granted and the emergency escrow; only its hash goes on chain."),
    rx,
    lo,
    status,
    alert,
  );
}
