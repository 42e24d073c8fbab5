// A patient as people name them: their name when the reader may open their
// sealed demographics, the ledger address one click away.

import { el } from "./dom";

export function personLabel(address: string, name: string | null | undefined): HTMLElement {
  if (!name) return el("span", { className: "address" }, address);
  return el("details", { className: "person" }, el("summary", {}, name), el("span", { className: "address" }, address));
}
