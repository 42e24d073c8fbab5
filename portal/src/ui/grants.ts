// Who may read my records: the grants on chain, granting and revoking by
// clinician or organisation, category and expiry, giving a new grantee the
// keys of past records (re-wrap, in this page), and research consent.

import { base64 } from "@scure/base";

import { query, queryAll } from "../chain/rpc";
import { send } from "../chain/send";
import { unwrapKey, wrapKey } from "../crypto/keywrap";
import { gatewayGet, gatewayPost } from "../gateway/client";
import { currentDemographics, sealDemographics } from "../records/demographics";
import { type Grant, GrantListSchema, ParticipantSchema } from "../gen/ehr/v1/state_pb";
import { AccessLevel, Category, type Grantee } from "../gen/ehr/v1/types_pb";
import { addressText, parseAddress } from "../ledger/address";
import { act, alertBox, el, field, scrollable, statusBox } from "./dom";
import type { Unlocked } from "./keys";
import { CATEGORIES, accessName, categoryName, secondsText } from "./words";

type GranteeKind = { case: "clinician"; value: Uint8Array } | { case: "organisation"; value: string };

/** `ehr1…` (a clinician) or `org:ID` (an organisation). */
function parseGrantee(text: string): GranteeKind {
  const t = text.trim();
  if (t.startsWith("org:")) {
    if (t.length === 4) throw new Error("name the organisation after org:, e.g. org:general");
    return { case: "organisation", value: t.slice(4) };
  }
  return { case: "clinician", value: parseAddress(t) };
}

const granteeText = (g: Grantee | undefined) =>
  g?.kind.case === "clinician" ? addressText(g.kind.value) : g?.kind.case === "organisation" ? `org:${g.kind.value}` : "nobody";

export async function showGrants(u: Unlocked, into: HTMLElement): Promise<void> {
  const alert = alertBox();
  const done = statusBox();
  const list = el("div");
  const reload = () => showGrantList(u, list, reload, alert, done);
  into.replaceChildren(list, grantForm(u, reload, alert, done), await consentForm(u, alert, done), done, alert);
  await reload();
}

/** The grants on chain, each with its revoke (and share) button. */
async function showGrantList(
  u: Unlocked,
  into: HTMLElement,
  reload: () => Promise<void>,
  alert: HTMLElement,
  done: HTMLElement,
): Promise<void> {
  const list = await queryAll<Grant, typeof GrantListSchema>(GrantListSchema, `/grants/${u.address}`);
  const now = Date.now() / 1000;
  const rows = list.map((g) => {
    const grantee = granteeText(g.grantee);
    const revoke = el("button", { type: "button", className: "secondary" }, "Revoke");
    revoke.setAttribute("aria-label", `Revoke ${categoryName(g.category)} from ${grantee}`);
    revoke.addEventListener("click", () =>
      act(revoke, alert, done, async () => {
        await send(u.secret, u.address, {
          case: "revokeAccess",
          value: { patient: parseAddress(u.address), grantee: g.grantee, categories: [g.category] },
        });
        await reload();
        return `Revoked: ${grantee} may no longer read your ${categoryName(g.category)}, from the next block on.`;
      }),
    );
    const cells = [
      el("td", { className: "address" }, grantee),
      el("td", {}, categoryName(g.category)),
      el("td", {}, accessName(g.access)),
      el("td", {}, Number(g.expiresAt) <= now ? `expired ${secondsText(g.expiresAt)}` : `until ${secondsText(g.expiresAt)}`),
      el("td", {}, revoke),
    ];
    if (g.grantee?.kind.case === "clinician" && (g.category === Category.VITALS || g.category === Category.ALL)) {
      const rewrap = el("button", { type: "button", className: "secondary" }, "Share past readings");
      rewrap.setAttribute("aria-label", `Share the keys of past readings with ${grantee}`);
      rewrap.addEventListener("click", () => act(rewrap, alert, done, () => shareKeys(u, grantee)));
      cells[4].append(" ", rewrap);
    }
    return el("tr", { dataset: { grantee, category: categoryName(g.category) } }, ...cells);
  });
  into.replaceChildren(
    rows.length === 0
      ? el("p", {}, "Nobody holds a grant from you: only you (and your guardian) can read your records.")
      : scrollable(
          el(
            "table",
            { dataset: { testid: "grants" } },
            el("caption", {}, "Your grants on chain"),
            el("thead", {}, el("tr", {}, ...["Who", "What", "May", "Until", ""].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, ...rows),
          ),
        ),
  );
}

function grantForm(u: Unlocked, reload: () => Promise<void>, alert: HTMLElement, done: HTMLElement): HTMLFormElement {
  const [whoLabel, who] = field("grantee", "Grant to (a clinician's address ehr1…, or org:ID for an organisation)");
  const boxes = CATEGORIES.map(([c, name]) => {
    const box = el("input", { type: "checkbox", id: `grant-${name.split(" ")[0]}`, value: String(c), checked: c === Category.VITALS });
    return [box, el("label", { htmlFor: box.id, className: "inline" }, box, ` ${name}`)] as const;
  });
  const [daysLabel, days] = field("grant-days", "For how many days", "number");
  days.value = "30";
  days.min = "1";
  const access = el(
    "select",
    { id: "grant-access" },
    el("option", { value: String(AccessLevel.READ) }, "read"),
    el("option", { value: String(AccessLevel.WRITE) }, "read and write (orders, prescriptions)"),
  );
  const submit = el("button", { type: "submit" }, "Grant");
  const form = el(
    "form",
    { ariaLabel: "Grant access" },
    el("h3", {}, "Grant access"),
    whoLabel,
    who,
    el("fieldset", {}, el("legend", {}, "Categories"), ...boxes.map(([, label]) => label)),
    el("label", { htmlFor: "grant-access" }, "Access"),
    access,
    daysLabel,
    days,
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(submit, alert, done, async () => {
      const grantee = parseGrantee(who.value);
      const categories = boxes.filter(([b]) => b.checked).map(([b]) => Number(b.value) as Category);
      if (categories.length === 0) throw new Error("choose at least one category");
      const n = Number(days.value);
      if (!Number.isInteger(n) || n < 1) throw new Error("the number of days is a whole number, at least 1");
      await send(u.secret, u.address, {
        case: "grantAccess",
        value: {
          patient: parseAddress(u.address),
          grantee: { kind: grantee },
          categories,
          access: Number(access.value) as AccessLevel,
          expiresAt: BigInt(Math.floor(Date.now() / 1000) + n * 86_400),
        },
      });
      await reload();
      return `Granted: ${who.value.trim()} may ${accessName(Number(access.value))} your ${categories.map(categoryName).join(", ")} for ${n} days.`;
    });
  });
  return form;
}

async function consentForm(u: Unlocked, alert: HTMLElement, done: HTMLElement): Promise<HTMLElement> {
  const me = await query(ParticipantSchema, `/participant/${u.address}`);
  const box = el("input", { type: "checkbox", id: "research-consent", checked: me?.researchConsent ?? false });
  const save = el("button", { type: "button", className: "secondary" }, "Save research consent");
  save.addEventListener("click", () =>
    act(save, alert, done, async () => {
      await send(u.secret, u.address, {
        case: "setResearchConsent",
        value: { patient: parseAddress(u.address), consent: box.checked },
      });
      return box.checked
        ? "Research consent given: analysts may see your readings, de-identified."
        : "Research consent withdrawn: once the chain records it (a few seconds), your de-identified readings are deleted from the analysts' tables and no new ones are added.";
    }),
  );
  return el(
    "div",
    {},
    el("h3", {}, "Research"),
    el("label", { htmlFor: box.id, className: "inline" }, box, " Analysts may use my de-identified readings"),
    save,
  );
}

/**
 * Wraps the keys of my past vitals for a clinician I granted: each data key
 * is opened here with my key and wrapped for theirs; only the new wraps
 * leave the page.
 */
async function shareKeys(u: Unlocked, reader: string): Promise<string> {
  const participant = await query(ParticipantSchema, `/participant/${reader}`);
  if (!participant) throw new Error(`${reader} is not registered on chain`);
  let [stored, present, after] = [0, 0, 0];
  for (;;) {
    const page = await gatewayGet<{ keys: { key_id: string; wrapped_key: string }[]; next_after: number | null }>(
      u.secret,
      `/v1/patients/${u.address}/wrapped-keys?category=vitals&missing_for=${reader}${after ? `&after=${after}` : ""}`,
    );
    const wraps = [];
    for (const k of page.keys) {
      const dataKey = await unwrapKey(u.secret, k.key_id, base64.decode(k.wrapped_key));
      wraps.push({ key_id: k.key_id, wrapped_key: base64.encode(await wrapKey(2, participant.publicKey, k.key_id, dataKey)) });
    }
    if (wraps.length > 0) {
      const r = await gatewayPost<{ stored: number; already_present: number }>(u.secret, `/v1/patients/${u.address}/wrapped-keys`, {
        reader,
        wraps,
      });
      stored += r.stored;
      present += r.already_present;
    }
    if (page.next_after === null || page.keys.length === 0) break;
    after = page.next_after;
  }
  // Who I am goes with them: my details, sealed again for everyone who may read them now.
  const details = await currentDemographics(u.secret, u.address);
  if (details) await sealDemographics(u.secret, u.address, u.address, details);
  return `Shared: ${reader} now holds the keys of ${stored} more past reading(s)${present ? ` (${present} already held)` : ""}${details ? " and your details" : ""}.`;
}
