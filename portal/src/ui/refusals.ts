// Refusals and failures as sentences to the person reading them: what
// happened to you and what you can do, with the names the page knows; the
// service's own sentence (for whoever looks into it) one click away.

import { GatewayError } from "../gateway/client";
import { el } from "./dom";

/** Whose records, and which: "Alice Zabłocka", "her vitals". */
export interface About {
  name?: string;
  what: string;
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** One sentence for the reader, by the refusal's cause. */
export function sayRefusal(e: unknown, about: About): string {
  const who = about.name ?? "this patient";
  switch (e instanceof GatewayError ? e.code : "") {
    case "access_denied":
      return `You hold no current grant from ${who} to read ${about.what}, and no emergency access to them is open.`;
    case "unreachable":
      return "The hospital's gateway cannot be reached from here: check your connection and try again.";
    case "key_replaced":
      return "This key was replaced — by a rotation or a recovery — and signs for nobody now: unlock your current key.";
    case "rate_limited":
      return "You asked many times in a short while: wait a few seconds and try again.";
    case "chain_unavailable":
    case "chain_unproven":
      return `The ledger could not confirm just now who may read ${about.what}: try again in a moment.`;
    default:
      return `${capital(about.what)} could not be loaded. Try again; if it keeps failing, show the technical reason to your hospital's IT desk.`;
  }
}

/** A refusal's box: the sentence, what the reader can do, the technical reason folded. */
export function refusalBox(e: unknown, about: About, ...actions: (Node | string)[]): HTMLElement {
  const box = el(
    "div",
    { className: "alert", dataset: { code: e instanceof GatewayError ? e.code : "error" } },
    el("p", {}, sayRefusal(e, about)),
    ...actions,
    technical(e instanceof Error ? e.message : String(e)),
  );
  box.setAttribute("role", "alert");
  return box;
}

/** The technical reason, folded away. */
export function technical(text: string): HTMLDetailsElement {
  return el("details", { className: "technical" }, el("summary", {}, "Technical reason"), el("p", {}, text));
}
