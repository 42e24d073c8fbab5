// A pharmacist's work: the prescriptions of the patients who chose this
// pharmacy — who granted it (or this pharmacist) their medications — each
// opened in the page and checked against its anchor, and dispensed here.
// The ledger counts the fills; a refusal says why.

import { queryAll } from "../chain/rpc";
import { send } from "../chain/send";
import { fromHex } from "../crypto/bytes";
import { gatewayGet } from "../gateway/client";
import { type Grant, GrantListSchema, type Participant, type Prescription, PrescriptionListSchema } from "../gen/ehr/v1/state_pb";
import { Category } from "../gen/ehr/v1/types_pb";
import { addressText, parseAddress } from "../ledger/address";
import { nameOf } from "../records/demographics";
import { type DocumentItem, describe, openDocument } from "../records/documents";
import { Verifier } from "../records/verify";
import { act, alertBox, el, scrollable, statusBox } from "./dom";
import type { Unlocked } from "./keys";
import { refusalBox } from "./refusals";
import { secondsText } from "./words";

/** The current grants to me, personally or through my organisation. */
export async function currentGrantsToMe(u: Unlocked, me: Participant): Promise<Grant[]> {
  const [mine, org] = await Promise.all([
    queryAll<Grant, typeof GrantListSchema>(GrantListSchema, `/granted-to/${u.address}`),
    queryAll<Grant, typeof GrantListSchema>(GrantListSchema, `/granted-to/org:${me.orgId}`),
  ]);
  const now = Date.now() / 1000;
  return [...mine, ...org].filter((g) => Number(g.expiresAt) > now);
}

/** The patients whose current grant to me (or my organisation) covers `category`. */
async function patientsGranting(u: Unlocked, me: Participant, category: Category): Promise<string[]> {
  const covering = (await currentGrantsToMe(u, me)).filter((g) => g.category === category || g.category === Category.ALL);
  return [...new Set(covering.map((g) => addressText(g.patient)))];
}

export async function showPrescriptionsToFill(u: Unlocked, me: Participant, into: HTMLElement, names: Map<string, string>): Promise<void> {
  const alert = alertBox();
  const done = statusBox();
  const reload = () => showPrescriptionsToFill(u, me, into, names);
  const rows: HTMLTableRowElement[] = [];
  const refusals: HTMLElement[] = [];
  const now = Date.now() / 1000;
  for (const patient of await patientsGranting(u, me, Category.MEDICATIONS)) {
    const name = names.get(patient) ?? (await nameOf(u.secret, patient)) ?? undefined;
    if (name) names.set(patient, name);
    const prescriptions = await queryAll<Prescription, typeof PrescriptionListSchema>(PrescriptionListSchema, `/prescriptions/${patient}`);
    if (prescriptions.length === 0) continue;
    let documents: DocumentItem[] = [];
    try {
      documents = (await gatewayGet<{ documents: DocumentItem[] }>(u.secret, `/v1/patients/${patient}/documents?category=medications`)).documents;
    } catch (e) {
      refusals.push(refusalBox(e, { name, what: "their prescriptions" }));
      continue;
    }
    const verifier = new Verifier(u.secret, parseAddress(patient));
    for (const rx of prescriptions) {
      const item = documents.find((d) => d.record_id === rx.contentRecordId);
      let what = "sealed: not opened";
      let corrected: string | null = null;
      if (item) {
        try {
          const doc = await openDocument(item, u.secret, patient);
          const anchor = await verifier.documentAnchor(item.record_id, fromHex(item.ciphertext_sha256), Category.MEDICATIONS);
          what = describe(doc.content);
          // The ledger refuses its fills (PrescriptionCorrected): said here first.
          if (anchor.supersededBy) corrected = `corrected by ${anchor.supersededBy}: do not dispense; ask the prescriber for a new prescription`;
        } catch (e) {
          what = `not opened: ${(e as Error).message}`;
        }
      }
      const used = rx.fills.length;
      const why =
        corrected ??
        (used >= rx.fillsAllowed
          ? `all ${rx.fillsAllowed} fill(s) dispensed`
          : Number(rx.validUntil) < now
            ? `expired ${secondsText(rx.validUntil)}`
            : null);
      const dispense = el("button", { type: "button", disabled: why !== null }, "Dispense");
      dispense.setAttribute("aria-label", `Dispense prescription ${rx.id} of ${name ?? patient}`);
      dispense.addEventListener("click", () =>
        act(dispense, alert, done, async () => {
          await send(u.secret, { case: "dispense", value: { prescriptionId: rx.id } });
          void reload();
          return `Dispensed: fill ${used + 1} of ${rx.fillsAllowed} of prescription ${rx.id} is recorded on the ledger.`;
        }),
      );
      rows.push(
        el(
          "tr",
          { dataset: { prescription: String(rx.id), patient } },
          el("td", {}, name ?? patient),
          el("td", {}, what),
          el("td", {}, secondsText(rx.prescribedAt)),
          el("td", {}, `${used} of ${rx.fillsAllowed}`),
          el("td", {}, why ? el("span", {}, why) : dispense),
        ),
      );
    }
  }
  into.replaceChildren(
    rows.length === 0
      ? el("p", {}, "No prescription of a patient who chose your pharmacy.")
      : scrollable(
          el(
            "table",
            { dataset: { testid: "to-fill" } },
            el("caption", {}, "Prescriptions of patients who chose your pharmacy"),
            el("thead", {}, el("tr", {}, ...["Patient", "What", "Written", "Fills", ""].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, ...rows),
          ),
        ),
    ...refusals,
    done,
    alert,
  );
}
