// Who may read my records: clinicians' requests for access (granted or
// declined here), the grants on chain, granting and revoking by clinician or
// organisation, category and expiry — granting shares the keys of past
// readings in the same step (wrapped again in this page) — and research
// consent. A guardian sees and does the same for the patient they guard.

import { query, queryAll, untilHeight } from "../chain/rpc";
import { send } from "../chain/send";
import { currentDemographics, sealDemographics } from "../records/demographics";
import { rewrapKeys } from "../records/rewrap";
import { type AccessRequest, AccessRequestListSchema, type Grant, GrantListSchema, ParticipantSchema } from "../gen/ehr/v1/state_pb";
import { AccessLevel, Category, type Grantee } from "../gen/ehr/v1/types_pb";
import { addressText, parseAddress } from "../ledger/address";
import { act, alertBox, el, field, scrollable, statusBox } from "./dom";
import type { Unlocked } from "./keys";
import { CATEGORIES, accessName, categoryName, roleName, secondsText } from "./words";

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

export async function showGrants(u: Unlocked, patient: string, into: HTMLElement): Promise<void> {
  const alert = alertBox();
  const done = statusBox();
  const requests = el("div");
  const list = el("div");
  const reload = async () => {
    await showRequests(u, patient, requests, reload, alert, done);
    await showGrantList(u, patient, list, reload, alert, done);
  };
  into.replaceChildren(requests, list, grantForm(u, patient, reload, alert, done), await consentForm(u, patient, alert, done), done, alert);
  await reload();
}

/** "a doctor of general (ehr1…)": who a clinician is, as the chain says. */
async function clinicianText(address: string): Promise<string> {
  const p = await query(ParticipantSchema, `/participant/${address}`).catch(() => null);
  return p ? `a ${roleName(p.role)} of ${p.orgId} (${address})` : address;
}

/** Clinicians' open requests for access, each granted and shared, or declined, in one step. */
async function showRequests(
  u: Unlocked,
  patient: string,
  into: HTMLElement,
  reload: () => Promise<void>,
  alert: HTMLElement,
  done: HTMLElement,
): Promise<void> {
  const [open, grants] = await Promise.all([
    queryAll<AccessRequest, typeof AccessRequestListSchema>(AccessRequestListSchema, `/access-requests/${patient}`),
    queryAll<Grant, typeof GrantListSchema>(GrantListSchema, `/grants/${patient}`),
  ]);
  if (open.length === 0) {
    into.replaceChildren();
    return;
  }
  const items = await Promise.all(
    open.map(async (r) => {
      const who = addressText(r.requester);
      const what = r.categories.map(categoryName).join(", ");
      const accept = el("button", { type: "button" }, "Grant for 30 days and share");
      accept.setAttribute("aria-label", `Grant ${who} your ${what} for 30 days and share past readings`);
      accept.addEventListener("click", () =>
        act(accept, alert, done, async () => {
          // A clinician who holds a grant already and asks for the keys of
          // older readings keeps what he holds: the grant is renewed as it
          // was (its access, and its expiry when later than 30 days).
          const said = [];
          let height = 0;
          for (const category of r.categories) {
            const held = grants.find((g) => g.grantee?.kind.case === "clinician" && addressText(g.grantee.kind.value) === who && g.category === category);
            const days = Math.max(30, Math.ceil((Number(held?.expiresAt ?? 0) - Date.now() / 1000) / 86_400));
            const g = await grant(u, patient, { case: "clinician", value: r.requester }, [category], held?.access ?? AccessLevel.READ, days);
            said.push(`${g.said}.`);
            height = g.height;
          }
          // Past readings are shared once, after the last grant.
          if (r.categories.includes(Category.VITALS) || r.categories.includes(Category.ALL)) {
            const n = await shareKeys(u, patient, who, height);
            said.push(`They can open ${readingsText(n)}${n.details ? " and your details" : ""}.`);
          }
          await reload();
          return said.join(" ");
        }),
      );
      const decline = el("button", { type: "button", className: "secondary" }, "Decline");
      decline.setAttribute("aria-label", `Decline the request of ${who}`);
      decline.addEventListener("click", () =>
        act(decline, alert, done, async () => {
          await send(u.secret, { case: "declineAccessRequest", value: { patient: parseAddress(patient), requester: r.requester } });
          await reload();
          return `Declined: ${who} was not given access, and sees that the request is closed.`;
        }),
      );
      return el(
        "li",
        { dataset: { requester: who } },
        `${await clinicianText(who)} asks to read your ${what} (asked ${secondsText(r.requestedAt)}). `,
        accept,
        " ",
        decline,
      );
    }),
  );
  into.replaceChildren(el("h3", {}, "Asking for access"), el("ul", { className: "requests" }, ...items));
}

/** The grants on chain, each with its revoke (and share) button. */
async function showGrantList(
  u: Unlocked,
  patient: string,
  into: HTMLElement,
  reload: () => Promise<void>,
  alert: HTMLElement,
  done: HTMLElement,
): Promise<void> {
  const list = await queryAll<Grant, typeof GrantListSchema>(GrantListSchema, `/grants/${patient}`);
  const now = Date.now() / 1000;
  const rows = list.map((g) => {
    const grantee = granteeText(g.grantee);
    const revoke = el("button", { type: "button", className: "secondary" }, "Revoke");
    revoke.setAttribute("aria-label", `Revoke ${categoryName(g.category)} from ${grantee}`);
    revoke.addEventListener("click", () =>
      act(revoke, alert, done, async () => {
        await send(u.secret, {
          case: "revokeAccess",
          value: { patient: parseAddress(patient), grantee: g.grantee, categories: [g.category] },
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
      rewrap.setAttribute("aria-label", `Share past readings with ${grantee}`);
      rewrap.addEventListener("click", () =>
        act(rewrap, alert, done, async () => {
          const n = await shareKeys(u, patient, grantee);
          return `Shared: ${grantee} can now open ${readingsText(n)} more${n.details ? ", and your details" : ""}.`;
        }),
      );
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

function grantForm(u: Unlocked, patient: string, reload: () => Promise<void>, alert: HTMLElement, done: HTMLElement): HTMLFormElement {
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
  const share = el("input", { type: "checkbox", id: "grant-share", checked: true });
  const shareLabel = el("label", { htmlFor: share.id, className: "inline" }, share, " Also share my past readings with them now");
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
    shareLabel,
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
      const said = await grantAndShare(u, patient, grantee, categories, Number(access.value) as AccessLevel, n, share.checked);
      await reload();
      return said;
    });
  });
  return form;
}

async function consentForm(u: Unlocked, patient: string, alert: HTMLElement, done: HTMLElement): Promise<HTMLElement> {
  const me = await query(ParticipantSchema, `/participant/${patient}`);
  const box = el("input", { type: "checkbox", id: "research-consent", checked: me?.researchConsent ?? false });
  const save = el("button", { type: "button", className: "secondary" }, "Save research consent");
  save.addEventListener("click", () =>
    act(save, alert, done, async () => {
      await send(u.secret, {
        case: "setResearchConsent",
        value: { patient: parseAddress(patient), consent: box.checked },
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

const readingsText = (n: Shared) =>
  `${n.readings} past reading${n.readings === 1 ? "" : "s"}${n.present ? ` (${n.present} key${n.present === 1 ? "" : "s"} already held)` : ""}`;

/**
 * Grants, and — for a clinician, of vitals — shares the keys of past
 * readings in the same step. Ingest learns of the grant from the chain's
 * events and wraps what it stores next for him; readings it stored between
 * the grant's block and learning of it are caught by a second pass once the
 * chain is two blocks on.
 */
async function grantAndShare(
  u: Unlocked,
  patient: string,
  grantee: GranteeKind,
  categories: Category[],
  access: AccessLevel,
  days: number,
  share = true,
): Promise<string> {
  const { said: granted, height } = await grant(u, patient, grantee, categories, access, days);
  const vitals = categories.includes(Category.VITALS) || categories.includes(Category.ALL);
  if (!share || !vitals || grantee.case !== "clinician") return `${granted}.`;
  const n = await shareKeys(u, patient, addressText(grantee.value), height);
  return `${granted}, and can open ${readingsText(n)}${n.details ? " and your details" : ""}.`;
}

/** One grant on chain; what it says, and the height of its block. */
async function grant(
  u: Unlocked,
  patient: string,
  grantee: GranteeKind,
  categories: Category[],
  access: AccessLevel,
  days: number,
): Promise<{ said: string; height: number }> {
  const committed = await send(u.secret, {
    case: "grantAccess",
    value: {
      patient: parseAddress(patient),
      grantee: { kind: grantee },
      categories,
      access,
      expiresAt: BigInt(Math.floor(Date.now() / 1000) + days * 86_400),
    },
  });
  const who = grantee.case === "clinician" ? addressText(grantee.value) : `org:${grantee.value}`;
  return { said: `Granted: ${who} may ${accessName(access)} your ${categories.map(categoryName).join(", ")} for ${days} days`, height: committed.height };
}

interface Shared {
  readings: number;
  present: number;
  details: boolean;
}

/**
 * Wraps the keys of the patient's past vitals for a clinician she granted:
 * each data key is opened here with her (or her guardian's) key and wrapped
 * for his; only the new wraps leave the page. With `grantHeight`, a second
 * pass once the chain is two blocks past the grant.
 */
async function shareKeys(u: Unlocked, patient: string, reader: string, grantHeight?: number): Promise<Shared> {
  const participant = await query(ParticipantSchema, `/participant/${reader}`);
  if (!participant) throw new Error(`${reader} is not registered on the ledger`);
  const total: Shared = { readings: 0, present: 0, details: false };
  const pass = async () => {
    const n = await rewrapKeys({ open: u.secret, sign: u.secret }, patient, reader, participant.publicKey, "vitals");
    total.readings += n.readings;
    total.present += n.present;
  };
  await pass();
  if (grantHeight !== undefined) {
    await untilHeight(grantHeight + 2);
    await pass();
  }
  // Who she is goes with them: her details, sealed again for everyone who may read them now.
  const details = await currentDemographics(u.secret, patient).catch(() => null);
  if (details) await sealDemographics(u.secret, u.address, patient, details);
  total.details = details !== null && details !== undefined;
  return total;
}
