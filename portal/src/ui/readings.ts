// A patient's readings as a reader sees them: fetched through the gateway
// (the read is audited on chain before it is served), decrypted in the page
// and each verified — device signature, Merkle path, anchor on chain — then
// charted per measurement and listed with its verdict.

import { GatewayError, type RecordsPage, gatewayGet } from "../gateway/client";
import { parseAddress } from "../ledger/address";
import { type Checked, Verifier } from "../records/verify";
import { lineChart } from "./chart";
import { alertBox, el, showAlert } from "./dom";
import type { Unlocked } from "./keys";
import { measurementName, timeText, unitText } from "./words";

const VERDICTS = { verified: "verified", pending: "pending", "no-key": "no key", failed: "FAILED" } as const;

/** What a read returned, for the caller to act on (a refusal's code, the basis). */
export interface ReadOutcome {
  basis: string | null;
  refusal: GatewayError | null;
}

/** Fills `into` with `patient`'s vitals as `u` may read them now. */
export async function showReadings(u: Unlocked, patient: string, into: HTMLElement): Promise<ReadOutcome> {
  const alert = alertBox();
  into.replaceChildren(el("p", { className: "muted" }, "Fetching and verifying…"));
  let page: RecordsPage;
  try {
    page = await gatewayGet<RecordsPage>(u.secret, `/v1/patients/${patient}/records?category=vitals&limit=200`);
  } catch (e) {
    into.replaceChildren(alert);
    showAlert(alert, (e as Error).message);
    return { basis: null, refusal: e instanceof GatewayError ? e : null };
  }
  const verifier = new Verifier(u.secret, parseAddress(patient));
  const checked: Checked[] = [];
  for (const item of page.records) checked.push(await verifier.check(item));
  const count = (v: string) => checked.filter((c) => c.verdict === v).length;
  const summary = el(
    "p",
    { dataset: { testid: "readings-summary" } },
    `${checked.length} readings: ${count("verified")} verified, ${count("pending")} pending, ${count("no-key")} without a key for you, ${count("failed")} failed.`,
  );
  const banner =
    page.basis === "EMERGENCY"
      ? el("p", { className: "emergency", role: "status" }, "Read under emergency access: this read is flagged in the patient's audit trail.")
      : "";
  into.replaceChildren(summary, banner, ...charts(checked), table(checked));
  return { basis: page.basis, refusal: null };
}

function charts(checked: Checked[]): HTMLElement[] {
  const series = new Map<string, { unit: string; points: { at: number; value: number }[] }>();
  for (const c of checked) {
    if (c.verdict !== "verified" && c.verdict !== "pending") continue;
    const r = c.reading;
    if (!r) continue;
    const s = series.get(r.loinc) ?? { unit: unitText(r.unit), points: [] };
    s.points.push({ at: Number(r.measuredAtMs), value: r.value });
    series.set(r.loinc, s);
  }
  return [...series.entries()].map(([loinc, s]) => {
    s.points.sort((a, b) => a.at - b.at);
    return el("figure", {}, lineChart(measurementName(loinc), s.unit, s.points), el("figcaption", {}, `${measurementName(loinc)} (${s.unit})`));
  });
}

function table(checked: Checked[]): HTMLTableElement {
  const rows = checked.map((c) => {
    const r = c.reading;
    const value = r ? `${Math.round(r.value * 10) / 10} ${unitText(r.unit)}` : "—";
    return el(
      "tr",
      { className: `verdict-${c.verdict}`, dataset: { record: c.item.record_id, verdict: c.verdict } },
      el("td", {}, timeText(c.item.measured_at_ms)),
      el("td", {}, measurementName(c.item.loinc)),
      el("td", {}, value),
      el("td", {}, c.item.device_id),
      el("td", { title: c.reason }, el("strong", {}, VERDICTS[c.verdict]), el("br"), el("small", {}, c.reason)),
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
