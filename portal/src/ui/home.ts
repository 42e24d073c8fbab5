// What an unlocked key opens: the chain says who the key belongs to — a
// patient, a clinician, a guardian — and the page shows what that person
// can do. A key a hospital enrolled but that has not registered yet can
// register here.

import { ChainError, query, queryAll } from "../chain/rpc";
import { send } from "../chain/send";
import { EnrollmentSchema, type Participant, ParticipantKind, ParticipantListSchema, ParticipantSchema } from "../gen/ehr/v1/state_pb";
import { addressText } from "../ledger/address";
import { nameOf } from "../records/demographics";
import { act, alertBox, el, showAlert, statusBox } from "./dom";
import { clinicianScreen } from "./clinician";
import type { Unlocked } from "./keys";
import { patientScreen } from "./patient";
import { personLabel } from "./person";
import { lostPhoneForm } from "./rights";

export async function homeScreen(u: Unlocked, reopen: (next?: Unlocked) => void): Promise<HTMLElement[]> {
  const names = new Map([[u.address, "you"]]);
  let me;
  for (let attempt = 0; ; attempt++) {
    try {
      me = await query(ParticipantSchema, `/participant/${u.address}`);
      break;
    } catch (e) {
      // A key bound a moment ago: the gateway decides on the state a signed
      // header proves, a block behind the page's first look; it catches up.
      if (u.keyAddress && e instanceof ChainError && e.code === "chain_call_not_allowed" && attempt < 10) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      const alert = alertBox();
      showAlert(alert, (e as Error).message);
      return [el("section", {}, alert)];
    }
  }
  // Whom this key guards; a list that does not load leaves the rest of the page working.
  const wards = await queryAll<Participant, typeof ParticipantListSchema>(ParticipantListSchema, `/guarding/${u.address}`).catch(() => []);
  const own =
    me?.kind === ParticipantKind.PATIENT ? patientScreen(u, names, reopen) : me?.kind === ParticipantKind.STAFF ? clinicianScreen(u, me, names) : [];
  if (wards.length > 0) return guardianScreen(u, wards, names, own, reopen);
  if (own.length > 0) return own;
  if (me) {
    return [el("section", {}, el("p", {}, "This key belongs to a hospital's service or administrator: the portal is for patients and clinicians."))];
  }
  const enrolled = await query(EnrollmentSchema, `/enrollment/${u.address}`);
  if (!enrolled) {
    return [
      el(
        "section",
        {},
        el("h2", {}, "Not registered yet"),
        el("p", {}, "No hospital has enrolled this key. Show your address (above) at a member hospital's front desk; once they enroll it, come back here to register."),
      ),
      lostPhoneForm(u),
    ];
  }
  const register = el("button", { type: "button" }, "Register as a patient");
  const alert = alertBox();
  const done = statusBox();
  register.addEventListener("click", () =>
    act(register, alert, done, async () => {
      await send(u.secret, { case: "registerPatient", value: {} });
      setTimeout(reopen, 1000);
      return "Registered: your records are yours from now on.";
    }),
  );
  return [
    el(
      "section",
      {},
      el("h2", {}, "Register"),
      el("p", {}, `${enrolled.orgId} enrolled this key. Register to own your records: nobody reads them without your grant.`),
      register,
      done,
      alert,
    ),
  ];
}

/**
 * A guardian's view: the patients they guard, each opened as her own page
 * would be, where the guardian reads, grants, revokes and shares for her.
 * One page at a time — the guardian's own or one they act in — so no two
 * forms share an id.
 */
function guardianScreen(u: Unlocked, wards: Participant[], names: Map<string, string>, own: HTMLElement[], reopen: (next?: Unlocked) => void): HTMLElement[] {
  const view = el("div", { id: "ward" }, ...own);
  const back = el("button", { type: "button", className: "secondary", hidden: true }, "Back to your own page");
  back.addEventListener("click", () => {
    back.hidden = true;
    view.replaceChildren(...own);
  });
  const items = wards.map((w) => {
    const patient = addressText(w.address);
    const who = el("span", { className: "who" }, personLabel(patient, names.get(patient)));
    const open = el("button", { type: "button", className: "secondary" }, "Act for them");
    void nameOf(u.secret, patient).then((name) => {
      if (!name) return;
      names.set(patient, name);
      who.replaceChildren(personLabel(patient, name));
      open.textContent = `Act for ${name}`;
    });
    open.addEventListener("click", () => {
      const name = names.get(patient) ?? patient;
      back.hidden = own.length === 0;
      view.replaceChildren(
        el("p", { className: "acting", role: "status" }, `You are acting for ${name} as their guardian: what you do here is signed with your key, and the ledger lets a guardian do it for them.`),
        ...patientScreen(u, names, reopen, patient),
      );
      view.scrollIntoView();
    });
    return el("li", { dataset: { patient } }, who, " ", open);
  });
  return [el("section", { id: "guarding", ariaLabel: "People you are the guardian of" }, el("h2", {}, "People you are the guardian of"), el("ul", {}, ...items), back), view];
}
