// What an unlocked key opens: the chain says who the key belongs to — a
// patient, a clinician — and the page shows what that person can do. A key
// a hospital enrolled but that has not registered yet can register here.

import { query } from "../chain/rpc";
import { send } from "../chain/send";
import { EnrollmentSchema, ParticipantKind, ParticipantSchema } from "../gen/ehr/v1/state_pb";
import { act, alertBox, el, showAlert, statusBox } from "./dom";
import { clinicianScreen } from "./clinician";
import type { Unlocked } from "./keys";
import { patientScreen } from "./patient";

export async function homeScreen(u: Unlocked, reopen: () => void): Promise<HTMLElement[]> {
  const names = new Map([[u.address, "you"]]);
  let me;
  try {
    me = await query(ParticipantSchema, `/participant/${u.address}`);
  } catch (e) {
    const alert = alertBox();
    showAlert(alert, (e as Error).message);
    return [el("section", {}, alert)];
  }
  if (me?.kind === ParticipantKind.PATIENT) return patientScreen(u, names);
  if (me?.kind === ParticipantKind.STAFF) return clinicianScreen(u, me, names);
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
    ];
  }
  const register = el("button", { type: "button" }, "Register as a patient");
  const alert = alertBox();
  const done = statusBox();
  register.addEventListener("click", () =>
    act(register, alert, done, async () => {
      await send(u.secret, u.address, { case: "registerPatient", value: {} });
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
