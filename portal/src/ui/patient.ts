// The patient's page: my readings (verified, charted), who may read them,
// who did (the audit trail on chain), and my devices. A guardian opens the
// same page for the patient they guard, and acts for her in it.

import { queryAll } from "../chain/rpc";
import { send } from "../chain/send";
import { type Device, DeviceListSchema, DeviceStatus } from "../gen/ehr/v1/state_pb";
import { parseAddress, parsePublicKey } from "../ledger/address";
import { amendControl, showAmendments } from "./amendments";
import { showDetails } from "./details";
import { showDocuments } from "./documents";
import { act, alertBox, el, field, panel, statusBox } from "./dom";
import { showGrants } from "./grants";
import type { Unlocked } from "./keys";
import { showReadings } from "./readings";
import { helpRecoverForm, keyPanel, showErasure, showRecovery } from "./rights";
import { showTrail } from "./trail";
import { secondsText } from "./words";

export function patientScreen(u: Unlocked, names: Map<string, string>, reopen: (next?: Unlocked) => void, patient = u.address): HTMLElement[] {
  // A guardian reads "their", the patient "my".
  const own = patient === u.address;
  const [my, me] = own ? ["My", "my"] : ["Their", "their"];
  const amendments = el("div");
  const loadAmendments = () => void showAmendments(u, patient, amendments, false).catch(() => undefined);
  return [
    el(
      "nav",
      { ariaLabel: "Parts of this page" },
      ...[
        ["readings", `${my} readings`],
        ["details", `${my} details`],
        ["grants", "Who may read"],
        ["documents", "Prescriptions"],
        ["amendments", "Amendments"],
        ["trail", "Who read"],
        ["devices", `${my} devices`],
        ["recovery", "Recovery"],
        ["erase", "Erase"],
      ].map(([id, text]) => el("a", { href: `#${id}` }, text)),
    ),
    panel("readings", `${my} readings`, (into) => showReadings(u, patient, into)),
    panel("details", `${my} details`, (into) => showDetails(u, patient, into)),
    panel("grants", `Who may read ${me} records`, (into) => showGrants(u, patient, into)),
    panel("documents", `${my} prescriptions and lab orders`, (into) => showDocuments(u, patient, into, { amend: amendControl(u, patient, loadAmendments) })),
    panel("amendments", "Amendments asked for", async (into) => {
      into.replaceChildren(amendments);
      await showAmendments(u, patient, amendments, false);
    }),
    panel("trail", `Who read ${me} records`, (into) => showTrail(patient, into, names)),
    panel("devices", `${my} devices`, (into) => showDevices(u, patient, into)),
    panel("recovery", `If ${me} phone is lost`, (into) => showRecovery(u, patient, into)),
    ...(own ? [panel("key", "My key", async (into) => into.replaceChildren(keyPanel(u, patient, reopen)))] : []),
    panel("help-recover", "Help someone recover their key", async (into) => into.replaceChildren(helpRecoverForm(u))),
    panel("erase", `Erase ${me} records`, (into) => showErasure(u, patient, into)),
  ];
}

async function showDevices(u: Unlocked, patient: string, into: HTMLElement): Promise<void> {
  const alert = alertBox();
  const done = statusBox();
  const list = el("div");
  const reload = async () => {
    const devices = await queryAll<Device, typeof DeviceListSchema>(DeviceListSchema, `/devices/${patient}`);
    list.replaceChildren(
      devices.length === 0
        ? el("p", {}, "No device is bound to you yet.")
        : el(
            "ul",
            {},
            ...devices.map((d) =>
              el(
                "li",
                {},
                el("strong", {}, d.deviceId),
                d.status === DeviceStatus.ACTIVE ? ` — bound ${secondsText(d.boundAt)}` : ` — revoked ${secondsText(d.revokedAt)}`,
              ),
            ),
          ),
    );
  };
  const [idLabel, id] = field("device-id", "Device id (as printed on the device)");
  const [keyLabel, key] = field("device-key", "Device public key (66 hex digits, from its pairing screen)");
  const submit = el("button", { type: "submit" }, "Bind this device to me");
  const form = el("form", { ariaLabel: "Bind a device" }, el("h3", {}, "Bind a device"), idLabel, id, keyLabel, key, submit, done, alert);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(submit, alert, done, async () => {
      const publicKey = parsePublicKey(key.value, "a device public key");
      await send(u.secret, {
        case: "bindDevice",
        value: { deviceId: id.value.trim(), publicKey, patient: parseAddress(patient) },
      });
      await reload();
      return `Bound: readings signed by ${id.value.trim()} are now yours.`;
    });
  });
  into.replaceChildren(list, form);
  await reload();
}
