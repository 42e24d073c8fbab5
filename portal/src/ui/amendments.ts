// Amendments (HIPAA §164.526; docs/ledger.md, amendment): the patient (or
// guardian) asks to amend a record, with her reason sealed; the author's
// hospital accepts — writing a sealed correction that supersedes the record,
// both kept and linked on chain — or denies on one of the rule's grounds,
// with an explanation; she may then attach a statement of disagreement.
// Every step's words are sealed in this page for the record's readers and
// stored with the gateway; only their hashes go on chain.

import { query, queryAll } from "../chain/rpc";
import { send } from "../chain/send";
import { gatewayGet } from "../gateway/client";
import { type Amendment, AmendmentListSchema, AmendmentStatus, StoredRecordAnchorSchema } from "../gen/ehr/v1/state_pb";
import type { DenialReason } from "../gen/ehr/v1/types_pb";
import { type Content, type DocumentItem, type ForAmendment, categoryNameOf, categoryOf, correctionId, denialId, openDocument } from "../records/documents";
import { writeDocument } from "./documents";
import { act, alertBox, el, statusBox } from "./dom";
import type { Unlocked } from "./keys";
import { DENIAL_REASONS, denialName, secondsText } from "./words";

/** A statement's words: 1 to 4000 characters, as the CLI takes them. */
function words(text: string): string {
  const t = text.trim();
  if (t.length === 0 || t.length > 4000) throw new Error("write 1 to 4000 characters");
  return t;
}

/** The category's name and the patient of record `recordId`, as anchored on chain. */
async function anchoredCategory(recordId: string): Promise<string> {
  const a = await query(StoredRecordAnchorSchema, `/record/${recordId}`);
  if (!a?.record) throw new Error(`no record ${recordId} is anchored on chain`);
  return categoryNameOf(a.record.category);
}

function textArea(id: string, label: string): [HTMLLabelElement, HTMLTextAreaElement] {
  const area = el("textarea", { id, name: id, rows: 3, maxLength: 4000, required: true });
  return [el("label", { htmlFor: id }, label), area];
}

/** A statement about `about` for purpose `purpose`, sealed, stored and anchored by `kind`. */
async function writeStatement(
  u: Unlocked,
  patient: string,
  about: string,
  purpose: "amendment_request" | "denial_explanation" | "disagreement",
  text: string,
  kind: Parameters<typeof writeDocument>[3],
  named?: ForAmendment,
): Promise<number> {
  const content: Content = { kind: "statement", about, purpose, category: await anchoredCategory(about), text: words(text) };
  return (await writeDocument(u, patient, content, kind, [], undefined, named)).height;
}

/** The "Ask to amend" control shown with each of the patient's documents. */
export function amendControl(u: Unlocked, patient: string, done: () => void): (recordId: string, what: string) => HTMLElement {
  return (recordId, what) => {
    const [label, reason] = textArea(`amend-${recordId}`, "What is wrong, and what it should say (sealed: only you, the hospital and your readers can read it)");
    const submit = el("button", { type: "submit" }, "Ask the hospital to amend it");
    const alert = alertBox();
    const status = statusBox();
    const form = el("form", { ariaLabel: `Ask to amend ${recordId}` }, label, reason, submit, status, alert);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void act(submit, alert, status, async () => {
        const height = await writeStatement(u, patient, recordId, "amendment_request", reason.value, (anchor) => ({
          case: "requestAmendment",
          value: { recordId, request: anchor },
        }));
        done();
        return `Asked at height ${height}: the hospital that wrote it must answer within 60 days; follow it under Amendments.`;
      });
    });
    const box = el("details", { className: "amend" }, el("summary", {}, "Ask to amend this"), form);
    box.dataset.record = recordId;
    box.title = what;
    return box;
  };
}

const STATUS: Record<number, string> = {
  [AmendmentStatus.REQUESTED]: "waiting for the hospital",
  [AmendmentStatus.ACCEPTED]: "accepted: corrected",
  [AmendmentStatus.DENIED]: "denied",
};

/**
 * The patient's amendments with their status, due date and lateness; for
 * the patient or guardian (`decider` false) a statement of disagreement
 * with a denial; for a clinician (`decider` true) accept or deny what is
 * open — the ledger refuses whoever is not its author or a doctor or
 * administrator of the author's hospital, with a sentence.
 */
export async function showAmendments(u: Unlocked, patient: string, into: HTMLElement, decider: boolean): Promise<void> {
  const shown = el("div");
  // What was done, and refusals, outlive the list they came from.
  const alert = alertBox();
  const done = statusBox();
  const reload = async () => shown.replaceChildren(await amendmentList(u, patient, decider, () => void reload(), { alert, done }));
  into.replaceChildren(shown, done, alert);
  await reload();
}

interface Boxes {
  alert: HTMLElement;
  done: HTMLElement;
}

async function amendmentList(u: Unlocked, patient: string, decider: boolean, reload: () => void, boxes: Boxes): Promise<HTMLElement> {
  const list = await queryAll<Amendment, typeof AmendmentListSchema>(AmendmentListSchema, `/amendments/${patient}`);
  if (list.length === 0) return el("p", {}, "No amendment was asked for.");
  const now = Date.now() / 1000;
  const items = list.map((a) => {
    const late = a.late || (a.status === AmendmentStatus.REQUESTED && now > Number(a.dueAt));
    const said: (Node | string)[] = [
      el("strong", {}, `Amendment ${a.id} of ${a.recordId}`),
      ` — ${STATUS[a.status] ?? "unknown"}`,
      late ? el("span", { className: "badge" }, a.status === AmendmentStatus.REQUESTED ? "overdue" : "decided late") : "",
      el("br"),
      `Asked ${secondsText(a.requestedAt)}; to be decided by ${a.orgId} by ${secondsText(a.dueAt)}.`,
    ];
    if (a.status === AmendmentStatus.ACCEPTED) said.push(el("br"), `Accepted ${secondsText(a.decidedAt)}: ${a.correctionId} replaces the record; both are kept.`);
    if (a.status === AmendmentStatus.DENIED) {
      said.push(el("br"), `Denied ${secondsText(a.decidedAt)}: ${denialName(a.denialReason)}.${a.explanationId ? ` Their explanation: ${a.explanationId}.` : ""}`);
      if (a.disagreementId) said.push(el("br"), `Your statement of disagreement (${a.disagreementId}) is shown with the record.`);
    }
    const actions =
      decider && a.status === AmendmentStatus.REQUESTED
        ? decideForms(u, patient, a, reload, boxes)
        : !decider && a.status === AmendmentStatus.DENIED && !a.disagreementId
          ? disagreementForm(u, patient, a, reload, boxes)
          : "";
    return el("li", { dataset: { amendment: String(a.id), status: STATUS[a.status] ?? "" } }, ...said, actions);
  });
  return el("ul", { className: "amendments" }, ...items);
}

function disagreementForm(u: Unlocked, patient: string, a: Amendment, reload: () => void, { alert, done: status }: Boxes): HTMLElement {
  const [label, text] = textArea(`disagree-${a.id}`, "Your statement of disagreement (sealed; shown with the record from now on)");
  const submit = el("button", { type: "submit" }, "Attach my statement");
  const form = el("form", { ariaLabel: `Disagree with the denial of amendment ${a.id}` }, label, text, submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(submit, alert, status, async () => {
      const height = await writeStatement(u, patient, a.recordId, "disagreement", text.value, (anchor) => ({
        case: "fileDisagreement",
        value: { amendmentId: a.id, statement: anchor },
      }));
      reload();
      return `Attached at height ${height}: whoever reads ${a.recordId} reads your statement with it.`;
    });
  });
  return el("details", {}, el("summary", {}, "Disagree with this denial"), form);
}

/** The original record's content, opened here, as the correction's starting point. */
async function original(u: Unlocked, patient: string, recordId: string): Promise<Content> {
  const category = await anchoredCategory(recordId);
  const { documents } = await gatewayGet<{ documents: DocumentItem[] }>(u.secret, `/v1/patients/${patient}/documents?category=${category}`);
  const item = documents.find((d) => d.record_id === recordId);
  if (!item) throw new Error(`you cannot read ${recordId}: you need a grant of the patient's ${category}`);
  return (await openDocument(item, u.secret, patient)).content;
}

function decideForms(u: Unlocked, patient: string, a: Amendment, reload: () => void, { alert, done: status }: Boxes): HTMLElement {

  const [correctionLabel, correction] = textArea(`correct-${a.id}`, "The corrected record (its content as written; change what is wrong)");
  correction.rows = 5;
  const accept = el("button", { type: "submit" }, "Accept and write the correction");
  const acceptForm = el("form", { ariaLabel: `Accept amendment ${a.id}` }, correctionLabel, correction, accept);
  const acceptBox = el("details", {}, el("summary", {}, "Accept"), acceptForm);
  acceptBox.addEventListener("toggle", () => {
    if (!acceptBox.open || correction.value) return;
    void original(u, patient, a.recordId)
      .then((c) => {
        correction.value = JSON.stringify(c, null, 1);
      })
      .catch((e: Error) => {
        alert.textContent = e.message;
        alert.hidden = false;
      });
  });
  acceptForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(accept, alert, status, async () => {
      let content: Content;
      try {
        content = JSON.parse(correction.value) as Content;
      } catch {
        throw new Error("the corrected record is not the record's content as written (JSON); open Accept again to start from the original");
      }
      // Checked before anything is stored: the correction is of the same
      // kind and category (the ledger refuses another, and its name,
      // correction-<id>, would be spent on what it refused).
      const was = await original(u, patient, a.recordId);
      if (content?.kind !== was.kind || categoryOf(content) !== categoryOf(was)) {
        throw new Error(`the correction is a ${was.kind.replace("_", " ")}, as the record it corrects is: change what is wrong in it, not its kind`);
      }
      const named = { recordId: correctionId(Number(a.id)), amendmentId: Number(a.id) };
      const written = await writeDocument(u, patient, content, (anchor) => ({ case: "acceptAmendment", value: { amendmentId: a.id, correction: anchor } }), [], undefined, named);
      reload();
      return `Accepted at height ${written.height}: ${named.recordId} supersedes ${a.recordId}, sealed for ${written.readers} readers.`;
    });
  });

  const reason = el("select", { id: `deny-reason-${a.id}` }, ...DENIAL_REASONS.map(([r, text]) => el("option", { value: String(r) }, text)));
  const [whyLabel, why] = textArea(`deny-why-${a.id}`, "Explanation to the patient (sealed; tells her she may disagree)");
  const deny = el("button", { type: "submit", className: "secondary" }, "Deny");
  const denyForm = el("form", { ariaLabel: `Deny amendment ${a.id}` }, el("label", { htmlFor: reason.id }, "Ground"), reason, whyLabel, why, deny);
  denyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(deny, alert, status, async () => {
      const named = { recordId: denialId(Number(a.id)), amendmentId: Number(a.id) };
      const height = await writeStatement(
        u,
        patient,
        a.recordId,
        "denial_explanation",
        why.value,
        (anchor) => ({ case: "denyAmendment", value: { amendmentId: a.id, reason: Number(reason.value) as DenialReason, explanation: anchor } }),
        named,
      );
      reload();
      return `Denied at height ${height}; the patient sees why and may attach a statement of disagreement.`;
    });
  });
  return el("div", {}, acceptBox, el("details", {}, el("summary", {}, "Deny"), denyForm));
}
