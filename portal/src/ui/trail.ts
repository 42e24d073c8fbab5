// A patient's audit trail as the chain holds it (/audit/<patient>): every
// disclosure the gateways logged and every emergency access opened, in
// order; emergency entries flagged with their justification.

import { queryAll } from "../chain/rpc";
import { type AuditEntry, AuditTrailSchema } from "../gen/ehr/v1/state_pb";
import { addressText } from "../ledger/address";
import { alertBox, el, scrollable, showAlert } from "./dom";
import { basisName, categoryName, isEmergencyOpened, purposeName, reasonName, secondsText } from "./words";

export async function showTrail(patient: string, into: HTMLElement, names: Map<string, string>): Promise<void> {
  const alert = alertBox();
  let items: AuditEntry[];
  try {
    items = await queryAll<AuditEntry, typeof AuditTrailSchema>(AuditTrailSchema, `/audit/${patient}`);
  } catch (e) {
    into.replaceChildren(alert);
    showAlert(alert, (e as Error).message);
    return;
  }
  if (items.length === 0) {
    into.replaceChildren(el("p", {}, "Nobody has read your records yet."));
    return;
  }
  const who = (a: Uint8Array) => {
    const address = addressText(a);
    return names.get(address) ?? address;
  };
  const rows = [...items].reverse().map((e) => {
    const opened = isEmergencyOpened(e.kind);
    const flagged = opened || e.emergency;
    const what = opened
      ? `opened emergency access (${reasonName(e.emergencyReason)}): “${e.justification}”`
      : `read ${e.recordIds.length} ${categoryName(e.category)} record(s)`;
    return el(
      "tr",
      { className: flagged ? "flagged" : "", dataset: { accessor: addressText(e.accessor), emergency: String(flagged) } },
      el("td", {}, secondsText(e.blockTime)),
      el("td", { className: "address" }, who(e.accessor)),
      el("td", {}, what),
      el(
        "td",
        {},
        opened ? "—" : `${purposeName(e.purpose)}; basis: ${basisName(e.basis)}`,
        // The ledger flags a declared purpose that does not fit the basis it found.
        e.purposeUnfit ? el("strong", { className: "badge" }, " purpose does not fit the basis: ask why") : "",
      ),
      el("td", {}, flagged ? el("strong", { className: "badge" }, "EMERGENCY") : ""),
    );
  });
  into.replaceChildren(
    scrollable(
      el(
      "table",
      { dataset: { testid: "trail" } },
      el("caption", {}, `${items.length} entries on chain, newest first`),
      el("thead", {}, el("tr", {}, ...["When", "Who", "What", "Why", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows),
      ),
    ),
  );
}
