// The consortium's code directory (LOINC, ICD-10-CM, SNOMED CT), read from
// the gateway's public look-up (GET /v1/codes…, no key needed): what a code
// on a record means, and a search anyone can run before logging in. Every
// code answered is proven on chain by the gateway; a retired one still
// displays, with why and what replaces it.

import { type CodeItem, GatewayError, publicGet } from "../gateway/client";
import { loincProblem } from "../records/loinc";
import { alertBox, el, scrollable, showAlert } from "./dom";
import { unitText } from "./words";

const SYSTEMS: [string, string][] = [
  ["", "all systems"],
  ["loinc", "LOINC (measurements, tests)"],
  ["icd10", "ICD-10-CM (diagnoses)"],
  ["snomed", "SNOMED CT (symptoms)"],
];

const systemName = (s: string) => ({ loinc: "LOINC", icd10: "ICD-10-CM", snomed: "SNOMED CT" })[s] ?? s;

/** The directory's names of these LOINC codes; a code it cannot name is left out. */
export async function measurementNames(loincs: Iterable<string>): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  await Promise.all(
    [...new Set(loincs)].map((code) =>
      publicGet<CodeItem>(`/v1/codes/loinc/${encodeURIComponent(code)}`)
        .then((c) => names.set(code, c.display.charAt(0).toUpperCase() + c.display.slice(1)))
        .catch(() => undefined),
    ),
  );
  return names;
}

/** A measurement's name from the directory, or its code where it has none. */
export const measurementName = (names: Map<string, string>, loinc: string) => names.get(loinc) ?? `LOINC ${loinc}`;

function status(c: CodeItem): string {
  if (c.status !== "retired") return "active";
  const instead = c.replaced_by ? `; use ${c.replaced_by}` : "";
  return `retired by proposal ${c.retired_by} (${c.reason ?? "no reason given"})${instead}`;
}

function table(codes: CodeItem[]): HTMLTableElement {
  return el(
    "table",
    { dataset: { testid: "code-results" } },
    el("thead", {}, el("tr", {}, ...["System", "Code", "Name", "Unit and plausible range", "Status"].map((h) => el("th", { scope: "col" }, h)))),
    el(
      "tbody",
      {},
      ...codes.map((c) =>
        el(
          "tr",
          { dataset: { code: c.code, status: c.status } },
          el("td", {}, systemName(c.system)),
          el("td", {}, c.code),
          el("td", {}, c.display),
          el("td", {}, c.unit === undefined ? "—" : `${unitText(c.unit)}, ${c.min}–${c.max}`),
          el("td", {}, status(c)),
        ),
      ),
    ),
  );
}

/**
 * A test a clinician orders or a lab posts: a LOINC code, well formed, in the
 * directory and not retired; refused with the sentence `ehr tx order-lab`
 * says. The ledger cannot check it: the order travels sealed.
 */
export async function activeTest(typed: string): Promise<CodeItem> {
  const problem = loincProblem(typed);
  if (problem) throw new Error(problem);
  let c: CodeItem;
  try {
    c = await publicGet<CodeItem>(`/v1/codes/loinc/${encodeURIComponent(typed)}`);
  } catch (e) {
    if (e instanceof GatewayError && e.code === "unknown_code") {
      throw new Error(
        `LOINC ${typed} is not in the consortium's code directory (proven absent): find the test with "Look up a code", or have the consortium add it`,
      );
    }
    throw e;
  }
  if (c.status === "retired") throw new Error(`LOINC ${typed} (${c.display}) was ${status(c)}`);
  return c;
}

/** The search form and its results: for anyone, logged in or not. */
export function codeLookup(): HTMLElement {
  const input = el("input", { id: "code-text", name: "code-text", type: "search", required: true, minLength: 2, maxLength: 100 });
  const system = el("select", { id: "code-system" }, ...SYSTEMS.map(([v, text]) => el("option", { value: v }, text)));
  const retired = el("input", { id: "code-retired", type: "checkbox" });
  const alert = alertBox();
  const results = el("div", { ariaLive: "polite" });
  const form = el(
    "form",
    { ariaLabel: "Look up a code" },
    el("h2", {}, "Look up a code"),
    el("p", {}, "The codes the consortium's hospitals use, as its members agreed them on the ledger. No key is needed."),
    el("label", { htmlFor: "code-text" }, "A code or words of its name"),
    input,
    el("label", { htmlFor: "code-system" }, "In"),
    system,
    el("label", { htmlFor: "code-retired" }, retired, " include retired codes"),
    el("button", { type: "submit" }, "Look up"),
    alert,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.hidden = true;
    results.replaceChildren(el("p", { className: "muted" }, "Looking up…"));
    const query = new URLSearchParams({ text: input.value.trim() });
    if (system.value) query.set("system", system.value);
    if (retired.checked) query.set("retired", "true");
    try {
      const found = await publicGet<{ codes: CodeItem[] }>(`/v1/codes?${query}`);
      results.replaceChildren(
        el("p", { dataset: { testid: "code-count" } }, found.codes.length === 0 ? "No code holds these words." : `${found.codes.length} codes, each proven on the ledger.`),
        ...(found.codes.length ? [scrollable(table(found.codes))] : []),
      );
    } catch (e) {
      results.replaceChildren();
      showAlert(alert, e instanceof Error ? e.message : String(e));
    }
  });
  return el("section", {}, form, results);
}
