// A patient's rights over her key and her records (docs/ledger.md, a key's
// life and erasure): who recovers her key if her phone is lost (and the
// change of them that waits 14 days), replacing her key — her past data
// keys re-wrapped for the new one in this page, her documents' from the
// escrow under the rotation on chain — helping someone else recover theirs,
// and erasing records, with the legal holds that refuse it shown first.

import { query, queryAll, signChainCallsWith, status, untilHeight } from "../chain/rpc";
import { send } from "../chain/send";
import { fromHex, toHex } from "../crypto/bytes";
import { newSecretKey, publicKeyOf } from "../crypto/vault";
import { gatewayGet } from "../gateway/client";
import { type Erasure, ErasureListSchema, type LegalHold, LegalHoldListSchema, type RecoveryPolicy, RecoveryPolicySchema } from "../gen/ehr/v1/state_pb";
import { Category, ErasureBasis } from "../gen/ehr/v1/types_pb";
import { addressOf, addressText, parseAddress, parsePublicKey } from "../ledger/address";
import { proveBinding } from "../ledger/binding";
import { rewrapKeys } from "../records/rewrap";
import { act, alertBox, el, field, statusBox } from "./dom";
import { type Unlocked, dropPendingKey, keepPendingKey, promotePendingKey, signsFor } from "./keys";
import { CATEGORIES, categoryName, erasedText, holdReasonName, secondsText } from "./words";

const addresses = (list: Uint8Array[]) => list.map(addressText).join(", ");

/** The recovery policy on chain, and the form that names the contacts. */
export async function showRecovery(u: Unlocked, patient: string, into: HTMLElement): Promise<void> {
  const state = el("div");
  const load = async () => {
    const policy = await query(RecoveryPolicySchema, `/recovery/${patient}`);
    state.replaceChildren(...policyText(policy));
    return policy;
  };
  let policy = await load();
  const [contactsLabel, contacts] = field("recovery-contacts", "Recovery contacts (their addresses ehr1…, separated by commas; 1 to 7)");
  const [thresholdLabel, threshold] = field("recovery-threshold", "How many of them must approve", "number");
  threshold.min = "1";
  threshold.value = String(policy?.threshold || 1);
  const submit = el("button", { type: "submit" }, "Save recovery contacts");
  const alert = alertBox();
  const done = statusBox();
  const form = el("form", { ariaLabel: "Recovery contacts" }, el("h3", {}, "Name recovery contacts"), contactsLabel, contacts, thresholdLabel, threshold, submit, done, alert);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(submit, alert, done, async () => {
      const list = contacts.value
        .split(/[\s,]+/)
        .filter((c) => c !== "")
        .map((c) => parseAddress(c));
      const n = Number(threshold.value);
      if (!Number.isInteger(n) || n < 1 || n > list.length) throw new Error(`the number who must approve is a whole number from 1 to ${list.length}`);
      await send(u.secret, { case: "setRecoveryContacts", value: { patient: parseAddress(patient), contacts: list, threshold: n } });
      const staged = policy !== null && policy.contacts.length > 0;
      policy = await load();
      return staged
        ? "Saved: the new contacts take over in 14 days; until then the present ones still recover your key."
        : "Saved: these contacts can recover your key from now on.";
    });
  });
  into.replaceChildren(state, form);
}

/** What a recovery policy says, in sentences: who recovers, what change waits, what recovery is under way. */
function policyText(policy: RecoveryPolicy | null): HTMLElement[] {
  const said: HTMLElement[] = [];
  if (!policy || policy.contacts.length === 0) {
    said.push(el("p", {}, "Nobody can recover this key if the phone is lost: name recovery contacts below."));
  } else {
    said.push(
      el("p", { dataset: { testid: "recovery-policy" } }, `Any ${policy.threshold} of ${policy.contacts.length} contact(s) — `, el("span", { className: "address" }, addresses(policy.contacts)), " — and an identity check at a member hospital's front desk bind a new key."),
    );
  }
  if (policy && Number(policy.nextFrom) > 0) {
    said.push(
      el(
        "p",
        { className: "muted", dataset: { testid: "recovery-next" } },
        policy.nextContacts.length === 0
          ? `The contacts above are removed on ${secondsText(policy.nextFrom)}.`
          : `From ${secondsText(policy.nextFrom)}: any ${policy.nextThreshold} of `,
        policy.nextContacts.length === 0 ? "" : el("span", { className: "address" }, addresses(policy.nextContacts)),
        " A change waits 14 days, so a thief holding a lost key cannot remove the contacts who would stop them.",
      ),
    );
  }
  if (policy?.pending) {
    const p = policy.pending;
    said.push(
      el(
        "p",
        { className: "emergency", role: "status" },
        `A recovery is under way for key ${toHex(p.newPublicKey)}: ${p.approvals.length} of ${policy.threshold} contact approval(s), identity ${p.identityCheckedBy.length ? `checked at ${p.checkedByOrg}` : "not yet checked"}. If it is not yours, tell your contacts and your hospital now.`,
      ),
    );
  }
  return said;
}

/**
 * For a recovery contact — or a hospital's front desk (`frontDesk`), whose
 * approval is the identity check — approves binding a patient's new key, as
 * she shows it from her new phone.
 */
export function helpRecoverForm(u: Unlocked, frontDesk = false): HTMLElement {
  const [patientLabel, patient] = field("recover-patient", "Their address (ehr1…)");
  const [keyLabel, key] = field("recover-key", "Their new public key (66 hex digits, shown on their new phone)");
  const [proofLabel, proof] = field("recover-proof", "Its recovery proof (128 hex digits, shown beside it)");
  const submit = el("button", { type: "submit" }, "Approve binding this key to them");
  const alert = alertBox();
  const done = statusBox();
  const form = el(
    "form",
    { ariaLabel: "Help someone recover their key" },
    el(
      "p",
      { className: "muted" },
      frontDesk
        ? "Approve only after checking, in person, an identity document of the patient showing you this key on their new phone: your approval is the identity check her recovery contacts' approvals wait for."
        : "Approve only a key the person showed you themselves, in person or on a call you are sure of: with enough approvals and a hospital's identity check, it becomes their key.",
    ),
    patientLabel,
    patient,
    keyLabel,
    key,
    proofLabel,
    proof,
    submit,
    done,
    alert,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(submit, alert, done, async () => {
      if (!/^[0-9a-fA-F]{128}$/.test(proof.value.trim())) throw new Error("the recovery proof is 128 hex digits");
      await send(u.secret, {
        case: "approveRecovery",
        value: { patient: parseAddress(patient.value.trim()), newPublicKey: parsePublicKey(key.value, "their new public key"), newKeyProof: fromHex(proof.value.trim()) },
      });
      return "Approved. The key is bound once enough contacts and a hospital's front desk have approved it.";
    });
  });
  return form;
}

/**
 * A new phone's side of a recovery: a fresh key (sealed in this browser
 * like any), and what its owner shows her contacts and the front desk —
 * the key and its proof over her address, for a recovery only.
 */
export function recoveryRequest(secret: Uint8Array, identity: string): HTMLElement {
  const proof = proveBinding(secret, "recovery", identity);
  return el(
    "div",
    { dataset: { testid: "recovery-request" } },
    el("p", {}, "Show these to your recovery contacts and to the front desk of a member hospital (with an identity document). Once enough of them approve, this key is yours: unlock it here again."),
    el("p", {}, "Your address: ", el("span", { className: "address" }, identity)),
    el("p", {}, "New public key: ", el("span", { className: "address", dataset: { testid: "recovery-key" } }, toHex(publicKeyOf(secret)))),
    el("p", {}, "Recovery proof: ", el("span", { className: "address", dataset: { testid: "recovery-proof" } }, toHex(proof))),
  );
}

/** The lost-phone form shown to a key that signs for nobody yet. */
export function lostPhoneForm(u: Unlocked): HTMLElement {
  const [label, address] = field("lost-address", "Your address (ehr1…, on your hospital card or in your old phone's settings)");
  const submit = el("button", { type: "submit", className: "secondary" }, "I lost my phone: recover my records with this key");
  const alert = alertBox();
  const out = el("div");
  const form = el("form", { ariaLabel: "Recover after a lost phone" }, el("h2", {}, "Lost your phone?"), label, address, submit, alert, out);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    alert.hidden = true;
    try {
      out.replaceChildren(recoveryRequest(u.secret, addressText(parseAddress(address.value.trim()))));
    } catch (e) {
      alert.textContent = (e as Error).message;
      alert.hidden = false;
    }
  });
  return el("section", {}, form);
}

/** Waits until the chain is two blocks past where it is now: what ingest stored meanwhile follows the new key. */
async function twoBlocksOn(): Promise<void> {
  await untilHeight((await status()).height + 2);
}

/**
 * The escrow's re-wrap of her past keys for this key (after a recovery or a
 * rotation): both kinds, every page — and again two blocks on, for what
 * ingest wrapped for the old key before it learned of the new one.
 */
async function recoveredKeys(u: Unlocked, patient: string): Promise<{ readings: number; documents: number }> {
  const first = await recoveredPass(u, patient);
  await twoBlocksOn();
  const second = await recoveredPass(u, patient);
  return { readings: first.readings + second.readings, documents: first.documents + second.documents };
}

async function recoveredPass(u: Unlocked, patient: string): Promise<{ readings: number; documents: number }> {
  const total = { readings: 0, documents: 0 };
  for (const kind of ["readings", "documents"] as const) {
    let after = 0;
    for (;;) {
      const page = await gatewayGet<{ records: number; next_after: number | null }>(
        u.secret,
        `/v1/patients/${patient}/recovered-keys?purpose=key_recovery&kind=${kind}${after ? `&after=${after}` : ""}`,
      );
      total[kind] += page.records;
      if (page.next_after === null || page.next_after === undefined) break;
      if (page.next_after <= after) throw new Error("the gateway's pages of keys do not move forward: try again later");
      after = page.next_after;
    }
  }
  return total;
}

/**
 * Her key: replace it (the old key signs the new one's binding, then opens
 * her past data keys for the new one), or — with a key a recovery bound —
 * fetch her past keys back from the escrow. `reopen` starts the page again
 * as the new key.
 */
export function keyPanel(u: Unlocked, patient: string, reopen: (u: Unlocked) => void): HTMLElement {
  const alert = alertBox();
  const done = statusBox();
  const parts: HTMLElement[] = [];
  if (u.keyAddress) {
    const fetchKeys = el("button", { type: "button" }, "Get back the keys of my past records");
    fetchKeys.addEventListener("click", () =>
      act(fetchKeys, alert, done, async () => {
        const n = await recoveredKeys(u, patient);
        return `Done: the hospitals' escrow wrapped for this key the keys of ${n.readings} reading(s) and ${n.documents} document(s); each is in your trail.`;
      }),
    );
    parts.push(el("p", {}, "This key replaced your first one. After a recovery, the keys of your past records come back from the hospitals' escrow; each re-wrap is logged in your trail."), fetchKeys);
  }
  const [passLabel, pass] = field("rotate-passphrase", "Passphrase to seal the new key in this browser (at least 8 characters)", "password", "new-password");
  const rotate = el("button", { type: "submit" }, "Replace my key");
  const form = el(
    "form",
    { ariaLabel: "Replace my key" },
    el("h3", {}, "Replace my key"),
    el("p", { className: "muted" }, "A new key is made in this page and bound to you on chain, signed by this one; from the next block this key signs for nobody. Your grants, devices and history stay yours, and the keys of your past records are wrapped again for the new key."),
    passLabel,
    pass,
    rotate,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(rotate, alert, done, async () => {
      if (pass.value.length < 8) throw new Error("the passphrase has at least 8 characters");
      const secret = newSecretKey();
      const newPublicKey = publicKeyOf(secret);
      // As unlocked afresh: the page asks the chain whom it signs for.
      const next: Unlocked = { secret, address: addressText(addressOf(newPublicKey)), fromLink: u.fromLink };
      // A demo link's key is kept nowhere: its successor is shown in every outcome.
      const shown = u.fromLink ? ` This page keeps no key from a demo link: your new key is ${toHex(secret)}.` : "";
      // Sealed here before the rotation is sent: whatever happens next, the
      // new key is not lost while the old one may sign for nobody.
      if (!u.fromLink) await keepPendingKey(secret, pass.value);
      try {
        await send(u.secret, { case: "rotateKey", value: { newPublicKey, newKeyProof: proveBinding(secret, "rotation", patient) } });
      } catch (e) {
        // Refused, or not seen committed: the chain says, on proof, whether
        // the new key is bound (asked with it: the old may be dead).
        signChainCallsWith(secret);
        const bound = await signsFor(next).then(
          (n) => n.keyAddress !== undefined,
          () => null,
        );
        if (bound !== true) {
          signChainCallsWith(u.secret);
          if (bound === false) dropPendingKey();
          throw new Error(
            bound === false
              ? `your key was not replaced: ${(e as Error).message}`
              : `it could not be seen whether your key was replaced (${(e as Error).message}): reload the page; the new key is kept in this browser until then.${shown}`,
          );
        }
      }
      // The old key signs for nobody now, the page's calls to the chain included.
      signChainCallsWith(secret);
      if (!u.fromLink) promotePendingKey();
      // From here the page is the new key's, whatever fails next: it starts
      // again as the new key once what was done (or not) could be read.
      let seenThrough = false;
      try {
        // The gateway accepts the new key once a header proves its block.
        const rewrap = () => rewrapKeys({ open: u.secret, sign: secret }, patient, patient, newPublicKey, "all");
        let readings = 0;
        for (let tries = 0; ; tries++) {
          try {
            readings += (await rewrap()).readings;
            break;
          } catch (e) {
            if (tries >= 20) throw e;
            await new Promise((r) => setTimeout(r, 500));
          }
        }
        // The escrow wraps her documents' keys (and two blocks on, what
        // ingest wrapped for the old key meanwhile is wrapped again here).
        const documents = (await recoveredKeys({ ...next, address: patient }, patient)).documents;
        readings += (await rewrap()).readings;
        seenThrough = true;
        return `Replaced: your new key opens ${readings} past reading(s) and ${documents} document(s).${shown}`;
      } catch (e) {
        throw new Error(
          `your key is replaced, but the keys of your past records are not all wrapped for it yet (${(e as Error).message}): press "Get back the keys of my past records" once the page reopens.${shown}`,
        );
      } finally {
        setTimeout(() => reopen(next), seenThrough && !u.fromLink ? 1500 : 8000);
      }
    });
  });
  parts.push(form, done, alert);
  return el("div", {}, ...parts);
}

/** The holds that keep her records, her past erasures, and the form to erase. */
export async function showErasure(u: Unlocked, patient: string, into: HTMLElement): Promise<void> {
  const state = el("div");
  const load = async () => state.replaceChildren(...(await erasureState(patient)));
  await load();
  into.replaceChildren(state, erasureForm(u, patient, load));
}

/** The holds in force on her records, and her past erasures. */
async function erasureState(patient: string): Promise<(HTMLElement | string)[]> {
  const [holds, erasures] = await Promise.all([
    queryAll<LegalHold, typeof LegalHoldListSchema>(LegalHoldListSchema, `/holds/${patient}`),
    queryAll<Erasure, typeof ErasureListSchema>(ErasureListSchema, `/erasures/${patient}`),
  ]);
  const now = Date.now() / 1000;
  const current = holds.filter((h) => Number(h.until) > now);
  const holdList =
    current.length === 0
      ? el("p", {}, "No hospital must keep your records now: you may erase them.")
      : el(
          "ul",
          { dataset: { testid: "holds" } },
          ...current.map((h) =>
            el(
              "li",
              {},
              `${h.orgId} must keep your ${h.categories.length ? h.categories.map(categoryName).join(", ") : "records"} until ${secondsText(h.until)} (${holdReasonName(h.reason)}${h.reference ? `, ${h.reference}` : ""}): they cannot be erased before.`,
            ),
          ),
        );
  const past = erasures.map((e) => el("li", {}, `${e.everything ? "Everything" : [...e.categories.map(categoryName), ...e.recordIds].join(", ")}: ${erasedText(e)}.`));
  return [holdList, past.length ? el("ul", { dataset: { testid: "erasures" } }, ...past) : ""];
}

function erasureForm(u: Unlocked, patient: string, reload: () => Promise<unknown>): HTMLElement {
  const boxes = CATEGORIES.filter(([c]) => c !== Category.ALL).map(([c, name]) => {
    const box = el("input", { type: "checkbox", id: `erase-${name.split(" ")[0]}`, value: String(c) });
    return [box, el("label", { htmlFor: box.id, className: "inline" }, box, ` ${name}`)] as const;
  });
  const everything = el("input", { type: "checkbox", id: "erase-everything" });
  const basis = el(
    "select",
    { id: "erase-basis" },
    el("option", { value: String(ErasureBasis.PATIENT_REQUEST) }, "I ask for it (GDPR art. 17)"),
    el("option", { value: String(ErasureBasis.CONSENT_WITHDRAWN) }, "I withdraw my consent"),
  );
  const sure = el("input", { type: "checkbox", id: "erase-sure" });
  const submit = el("button", { type: "submit", className: "danger" }, "Erase for good");
  const alert = alertBox();
  const done = statusBox();
  const form = el(
    "form",
    { ariaLabel: "Erase records" },
    el("h3", {}, "Erase records"),
    el("p", { className: "muted" }, "Erasing deletes the records and every key that opens them, in every hospital: nobody — you included — can read them again. The ledger keeps their hashes and this erasure."),
    el("fieldset", {}, el("legend", {}, "What"), ...boxes.map(([, label]) => label), el("label", { htmlFor: everything.id, className: "inline" }, everything, " everything")),
    el("label", { htmlFor: basis.id }, "Why"),
    basis,
    el("label", { htmlFor: sure.id, className: "inline" }, sure, " I understand this cannot be undone"),
    submit,
    done,
    alert,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(submit, alert, done, async () => {
      const categories = boxes.filter(([b]) => b.checked).map(([b]) => Number(b.value) as Category);
      if (!everything.checked && categories.length === 0) throw new Error("choose what to erase: categories, or everything");
      if (!sure.checked) throw new Error("tick that you understand erasing cannot be undone");
      const c = await send(u.secret, {
        case: "eraseRecords",
        value: { patient: parseAddress(patient), categories: everything.checked ? [] : categories, everything: everything.checked, basis: Number(basis.value) as ErasureBasis },
      });
      await reload();
      return `Erased at height ${c.height}: every hospital deletes them within seconds, and readers see them as erased.`;
    });
  });
  return form;
}
