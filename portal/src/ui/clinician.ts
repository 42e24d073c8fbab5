// The clinician's page: the patients who granted me access (personally or
// through my organisation), their vitals verified, asking a patient for
// access (or for the keys of older readings), and break-glass — an
// emergency access with its reason and justification, opened on chain and
// flagged in the patient's trail. A pharmacist also sees the prescriptions
// to fill; a lab technician, the lab's open orders.

import { send } from "../chain/send";
import type { Participant } from "../gen/ehr/v1/state_pb";
import { Category, type EmergencyReason, Role } from "../gen/ehr/v1/types_pb";
import { addressText, parseAddress } from "../ledger/address";
import { nameOf } from "../records/demographics";
import { showAmendments } from "./amendments";
import { showDocuments, writeForms } from "./documents";
import { act, alertBox, el, field, panel, showAlert, statusBox } from "./dom";
import type { Unlocked } from "./keys";
import { showWorklist } from "./lab";
import { personLabel } from "./person";
import { currentGrantsToMe, showPrescriptionsToFill } from "./pharmacy";
import { showReadings } from "./readings";
import { helpRecoverForm } from "./rights";
import { EMERGENCY_REASONS, categoryName, roleName, secondsText } from "./words";

export function clinicianScreen(u: Unlocked, me: Participant, names: Map<string, string>): HTMLElement[] {
  const chart = el("section", { id: "patient", ariaLabel: "Patient", hidden: true });
  const open = (patient: string) => {
    chart.hidden = false;
    openPatient(u, me, patient, chart, names);
    chart.scrollIntoView();
  };
  return [
    el("p", {}, `Signed in as a ${roleName(me.role)} of ${me.orgId}.`),
    ...(me.role === Role.PHARMACIST ? [panel("to-fill", "Prescriptions to fill", (into) => showPrescriptionsToFill(u, me, into, names))] : []),
    ...(me.role === Role.LAB_TECHNICIAN ? [panel("worklist", `Open orders at ${me.orgId}'s lab`, (into) => showWorklist(u, me, into, names))] : []),
    ...(me.role === Role.ADMIN
      ? [panel("front-desk", "Front desk: a patient's lost key", async (into) => into.replaceChildren(helpRecoverForm(u, true)))]
      : []),
    panel("patients", "Patients who granted me access", (into) => showPatients(u, me, into, open, names)),
    openByAddress(open),
    chart,
  ];
}

async function showPatients(
  u: Unlocked,
  me: Participant,
  into: HTMLElement,
  open: (patient: string) => void,
  names: Map<string, string>,
): Promise<void> {
  const current = await currentGrantsToMe(u, me);
  const byPatient = new Map<string, string[]>();
  for (const g of current) {
    const p = addressText(g.patient);
    const via = g.grantee?.kind.case === "organisation" ? ` (via ${g.grantee.kind.value})` : "";
    byPatient.set(p, [...(byPatient.get(p) ?? []), `${categoryName(g.category)} until ${secondsText(g.expiresAt)}${via}`]);
  }
  if (byPatient.size === 0) {
    into.replaceChildren(el("p", {}, "No patient has granted you access that is still current."));
    return;
  }
  into.replaceChildren(
    el(
      "ul",
      { className: "patients" },
      ...[...byPatient.entries()].map(([p, what]) => {
        const button = el("button", { type: "button", className: "secondary" }, "Open");
        button.setAttribute("aria-label", `Open ${names.get(p) ?? p}`);
        button.addEventListener("click", () => open(p));
        const who = el("span", { className: "who" }, personLabel(p, names.get(p)));
        // Each name is a read of the patient's sealed details, logged in their trail.
        void nameOf(u.secret, p).then((name) => {
          if (!name) return;
          names.set(p, name);
          who.replaceChildren(personLabel(p, name));
          button.setAttribute("aria-label", `Open ${name}`);
        });
        return el("li", { dataset: { patient: p } }, who, el("br"), what.join("; "), " ", button);
      }),
    ),
  );
}

function openByAddress(open: (patient: string) => void): HTMLElement {
  const [label, input] = field("patient-address", "A patient's address (ehr1…)");
  const alert = alertBox();
  const form = el("form", { ariaLabel: "Open a patient" }, el("h2", {}, "Open a patient"), label, input, el("button", { type: "submit" }, "Open"), alert);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      open(addressText(parseAddress(input.value.trim())));
      alert.hidden = true;
    } catch (e) {
      showAlert(alert, (e as Error).message);
    }
  });
  return el("section", {}, form);
}

function openPatient(u: Unlocked, me: Participant, patient: string, into: HTMLElement, names: Map<string, string>): void {
  const readings = el("div", { dataset: { testid: "patient-readings" } });
  const who = el("span", { className: "who" }, personLabel(patient, names.get(patient)));
  if (!names.has(patient)) {
    void nameOf(u.secret, patient).then((name) => {
      if (!name) return;
      names.set(patient, name);
      who.replaceChildren(personLabel(patient, name));
    });
  }
  const glass = el("div");
  const ask = () => askButton(u, patient, names.get(patient));
  const load = async () => {
    glass.replaceChildren();
    const outcome = await showReadings(u, patient, readings, { name: names.get(patient), ask });
    if (outcome.refusal?.code === "access_denied" && me.role === Role.DOCTOR) {
      glass.replaceChildren(breakGlass(u, patient, load));
    }
  };
  const documents = el("div", { dataset: { testid: "patient-documents" } });
  const amendments = el("div", { dataset: { testid: "patient-amendments" } });
  const loadDocuments = () => {
    void showDocuments(u, patient, documents, { name: names.get(patient) });
    // Her requests to amend: a doctor of the author's hospital decides them.
    void showAmendments(u, patient, amendments, true).catch((e: Error) => amendments.replaceChildren(el("p", { className: "muted" }, e.message)));
  };
  const again = el("button", { type: "button", className: "secondary small" }, "Refresh");
  again.addEventListener("click", () => {
    void load();
    loadDocuments();
  });
  into.replaceChildren(
    el("div", { className: "heading" }, el("h2", {}, "Vitals of ", who), again),
    readings,
    glass,
    el("h3", {}, "Prescriptions and lab orders"),
    documents,
    el("h3", {}, "Amendments asked for"),
    amendments,
    me.role === Role.DOCTOR ? writeForms(u, patient, loadDocuments) : "",
  );
  void load();
  loadDocuments();
}

/** Asks the patient, on the ledger, for her vitals — or for their keys, when he holds a grant already. */
function askButton(u: Unlocked, patient: string, name?: string): HTMLElement {
  const who = name ?? "the patient";
  const button = el("button", { type: "button" }, `Ask ${who} to share their vitals with you`);
  const alert = alertBox();
  const done = statusBox();
  button.addEventListener("click", () =>
    act(button, alert, done, async () => {
      await send(u.secret, { case: "requestAccess", value: { patient: parseAddress(patient), categories: [Category.VITALS] } });
      return `Asked: ${who} sees your request on their page and answers it there; refresh once they have.`;
    }),
  );
  return el("div", { className: "ask-action" }, button, done, alert);
}

function breakGlass(u: Unlocked, patient: string, reload: () => Promise<void>): HTMLElement {
  const reason = el(
    "select",
    { id: "emergency-reason" },
    ...EMERGENCY_REASONS.map(([r, text]) => el("option", { value: String(r) }, text)),
  );
  const [whyLabel, why] = field("emergency-justification", "Justification (no clinical detail: it is public to the consortium; at most 200 characters)");
  why.maxLength = 200;
  const submit = el("button", { type: "submit", className: "danger" }, "Open emergency access");
  const alert = alertBox();
  const done = statusBox();
  const form = el(
    "form",
    { ariaLabel: "Break the glass", className: "glass" },
    el("h3", {}, "Emergency access (break-glass)"),
    el(
      "p",
      {},
      "Opening it lets you read this patient's records for a limited time without their grant. It is recorded on chain with your reason and justification, and every read under it is flagged in the patient's audit trail.",
    ),
    el("label", { htmlFor: "emergency-reason" }, "Reason"),
    reason,
    whyLabel,
    why,
    submit,
    done,
    alert,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(submit, alert, done, async () => {
      await send(u.secret, {
        case: "openEmergencyAccess",
        value: { patient: parseAddress(patient), reason: Number(reason.value) as EmergencyReason, justification: why.value.trim() },
      });
      void reload();
      return "Emergency access open, and recorded on chain.";
    });
  });
  return form;
}
