// A patient's readings as a reader sees them: fetched through the gateway
// (the read is audited on chain before it is served), decrypted in the page
// and each verified — device signature, Merkle path, anchor on chain — then
// charted per measurement and listed with its verdict.

import { GatewayError, type RecordsPage, gatewayGet } from "../gateway/client";
import { parseAddress } from "../ledger/address";
import { type Checked, Verifier, checkAll } from "../records/verify";
import { lineChart } from "./chart";
import { el, scrollable } from "./dom";
import type { Unlocked } from "./keys";
import { refusalBox, technical } from "./refusals";
import { measurementName, measurementNames } from "./codes";
import { erasedText, normalRange, timeText, unitText } from "./words";

const VERDICTS = { verified: "verified", erased: "erased", pending: "pending", "no-key": "not shared with you", failed: "FAILED" } as const;

/** What each verdict means to the person reading, and what to do. */
const MEANING = {
  verified: "As the device signed it, unchanged, anchored on the ledger.",
  erased: "Erased for good: nothing of it is left to open. Its anchor on the ledger (a hash) stays, with the erasure.",
  pending: "Stored; its anchor on the ledger comes within seconds.",
  "no-key": "Stored before it was shared with you.",
  failed:
    "This reading is not what the device signed or what the ledger anchored: it may have been altered. Do not rely on it, and tell the hospital that stores these records.",
} as const;

/** Whose readings the page shows, and what a reader without keys may do. */
export interface ReadingsView {
  /** The patient's name, where the page knows it. */
  name?: string;
  /** For a clinician: a button asking the patient for access, or for the keys of older readings. */
  ask?: () => HTMLElement;
}

/** What a read returned, for the caller to act on (a refusal's code, the basis). */
export interface ReadOutcome {
  basis: string | null;
  refusal: GatewayError | null;
}

/** How far back a view of readings goes; one page of the gateway's at most. */
const WINDOWS: [number, string][] = [
  [1, "the last hour"],
  [24, "the last 24 hours"],
  [24 * 7, "the last 7 days"],
];
const LIMIT = 1000;
let windowHours = 24;

function windowChoice(reload: () => void): HTMLElement {
  const select = el("select", { id: "readings-window" }, ...WINDOWS.map(([h, text]) => el("option", { value: String(h), selected: h === windowHours }, text)));
  select.addEventListener("change", () => {
    windowHours = Number(select.value);
    reload();
  });
  return el("div", {}, el("label", { htmlFor: "readings-window" }, "Readings of"), select);
}

/** Fills `into` with `patient`'s vitals as `u` may read them now. */
export async function showReadings(u: Unlocked, patient: string, into: HTMLElement, view: ReadingsView = {}): Promise<ReadOutcome> {
  const choice = windowChoice(() => void showReadings(u, patient, into, view));
  into.replaceChildren(choice, el("p", { className: "muted" }, "Fetching and verifying…"));
  const from = new Date(Date.now() - windowHours * 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");
  let page: RecordsPage;
  try {
    page = await gatewayGet<RecordsPage>(u.secret, `/v1/patients/${patient}/records?category=vitals&from=${from}&limit=${LIMIT}`);
  } catch (e) {
    const denied = e instanceof GatewayError && e.code === "access_denied";
    into.replaceChildren(choice, refusalBox(e, { name: view.name, what: patient === u.address ? "your vitals" : "their vitals" }, denied && view.ask ? view.ask() : ""));
    return { basis: null, refusal: e instanceof GatewayError ? e : null };
  }
  const verifier = new Verifier(u.secret, parseAddress(patient));
  const checked = await checkAll(verifier, page.records);
  // Named by the consortium's directory, not by a list in this page.
  const names = await measurementNames(page.records.map((r) => r.loinc));
  const count = (v: string) => checked.filter((c) => c.verdict === v).length;
  const summary = el(
    "p",
    { dataset: { testid: "readings-summary" } },
    `${checked.length} readings: ${count("verified")} verified, ${count("pending")} pending,${count("erased") ? ` ${count("erased")} erased,` : ""} ${count("no-key")} without a key for you, ${count("failed")} failed.`,
    page.next_after !== null ? ` These are the first ${LIMIT} of the period; choose a shorter one to see the latest.` : "",
  );
  const banner =
    page.basis === "EMERGENCY"
      ? el("p", { className: "emergency", role: "status" }, "Read under emergency access: this read is flagged in the patient's audit trail.")
      : "";
  const unshared = count("no-key");
  const ask =
    unshared > 0 && view.ask
      ? el("div", { className: "ask" }, el("p", {}, `${unshared} of these readings were stored before ${view.name ?? "the patient"} shared them with you.`), view.ask())
      : "";
  into.replaceChildren(choice, summary, banner, ask, ...charts(checked, names), scrollable(table(checked, names)));
  return { basis: page.basis, refusal: null };
}

function charts(checked: Checked[], names: Map<string, string>): HTMLElement[] {
  const series = new Map<string, { unit: string; ucum: string; points: { at: number; value: number }[] }>();
  for (const c of checked) {
    if (c.verdict !== "verified" && c.verdict !== "pending") continue;
    const r = c.reading;
    if (!r) continue;
    const s = series.get(r.loinc) ?? { unit: unitText(r.unit), ucum: r.unit, points: [] };
    s.points.push({ at: Number(r.measuredAtMs), value: r.value });
    series.set(r.loinc, s);
  }
  return [...series.entries()].map(([loinc, s]) => {
    s.points.sort((a, b) => a.at - b.at);
    const normal = normalRange(loinc, s.ucum);
    return el(
      "figure",
      {},
      lineChart(measurementName(names, loinc), s.unit, s.points, normal),
      el("figcaption", {}, `${measurementName(names, loinc)} (${s.unit})${normal ? `; usual range ${normal[0]}–${normal[1]} shaded` : ""}`),
    );
  });
}

function table(checked: Checked[], names: Map<string, string>): HTMLTableElement {
  const rows = checked.map((c) => {
    const r = c.reading;
    const value = r ? `${Math.round(r.value * 10) / 10} ${unitText(r.unit)}` : "—";
    return el(
      "tr",
      { className: `verdict-${c.verdict}`, dataset: { record: c.item.record_id, verdict: c.verdict } },
      el("td", {}, timeText(c.item.measured_at_ms)),
      el("td", {}, measurementName(names, c.item.loinc)),
      el("td", {}, value),
      el("td", {}, c.item.device_id),
      el(
        "td",
        {},
        el("strong", {}, c.erasure ? erasedText(c.erasure) : VERDICTS[c.verdict]),
        el("br"),
        el("small", {}, MEANING[c.verdict]),
        technical(c.reason),
      ),
    );
  });
  return el(
    "table",
    {},
    el("caption", {}, "Each reading, newest last, with what was checked"),
    el("thead", {}, el("tr", {}, ...["When", "Measurement", "Value", "Device", "Verified"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows),
  );
}
