// The patient's own details — name, birth date, the hospitals' record
// numbers — as sealed by her hospital's front desk or by herself, and a form
// to correct them: sealed in this page for her, her guardian, everyone she
// lets read her records and the emergency escrow; only the hash goes on chain.

import { currentDemographics, sealDemographics } from "../records/demographics";
import { type Demographics, fullName } from "../records/documents";
import { act, alertBox, el, field, statusBox } from "./dom";
import type { Unlocked } from "./keys";

const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

export async function showDetails(u: Unlocked, patient: string, into: HTMLElement): Promise<void> {
  const current = await currentDemographics(u.secret, patient);
  const shown = current
    ? el(
        "dl",
        { dataset: { testid: "my-details" } },
        el("dt", {}, "Name"),
        el("dd", {}, fullName(current)),
        el("dt", {}, "Born"),
        el("dd", {}, current.birth_date ?? "not given"),
        ...current.mrns.flatMap((m) => [el("dt", {}, `Record number at ${m.organisation}`), el("dd", {}, m.value)]),
      )
    : el("p", {}, "No details are sealed for you yet: your hospital's front desk adds them, or you can below.");

  const [givenLabel, given] = field("details-given", "Given name(s)");
  const [familyLabel, family] = field("details-family", "Family name");
  const [bornLabel, born] = field("details-born", "Birth date (YYYY-MM-DD)");
  given.value = current?.given.join(" ") ?? "";
  family.value = current?.family ?? "";
  born.value = current?.birth_date ?? "";
  const submit = el("button", { type: "submit" }, "Seal my corrected details");
  const alert = alertBox();
  const done = statusBox();
  const form = el("form", { ariaLabel: "Correct my details" }, el("h3", {}, "Correct my details"), givenLabel, given, familyLabel, family, bornLabel, born, submit, done, alert);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(submit, alert, done, async () => {
      const names = given.value.trim().split(/\s+/).filter((g) => g !== "");
      if (names.length === 0 && family.value.trim() === "") throw new Error("give at least a given or a family name");
      if (born.value.trim() !== "" && !DATE.test(born.value.trim())) throw new Error("write the birth date as YYYY-MM-DD, such as 1984-03-07");
      const d: Demographics = {
        given: names,
        family: family.value.trim(),
        birth_date: born.value.trim() || null,
        gender: current?.gender ?? null,
        mrns: current?.mrns ?? [],
      };
      const height = await sealDemographics(u.secret, u.address, patient, d);
      await showDetails(u, patient, into);
      return `Sealed and anchored at height ${height}; those who read your records now see ${fullName(d)}.`;
    });
  });
  into.replaceChildren(shown, form);
}
