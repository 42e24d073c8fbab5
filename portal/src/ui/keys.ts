// The key screen: create or import a key and seal it under a passphrase in
// this browser's storage, or unlock the one sealed here. The secret key
// exists in clear only in this page's memory, and only while unlocked.

import { fromHex, toHex } from "../crypto/bytes";
import {
  type SealedKey,
  VaultError,
  importSecretKey,
  newSecretKey,
  openSecretKey,
  publicKeyOf,
  sealSecretKey,
} from "../crypto/vault";
import { query, signChainCallsWith } from "../chain/rpc";
import { KeyBindingSchema } from "../gen/ehr/v1/state_pb";
import { addressOf, addressText } from "../ledger/address";
import { alertBox, el, field, showAlert } from "./dom";

const STORAGE_KEY = "ehr-portal-key";

/**
 * A key replacing the one kept here, sealed before its rotation is sent: if
 * the page cannot see the rotation through (the tab closed, the chain slow),
 * the new key is not lost while the old one may already sign for nobody.
 */
const PENDING_KEY = "ehr-portal-key-pending";

export async function keepPendingKey(secret: Uint8Array, passphrase: string): Promise<void> {
  localStorage.setItem(PENDING_KEY, JSON.stringify(await sealSecretKey(secret, passphrase)));
}

/** The pending key becomes the key kept here. */
export function promotePendingKey(): void {
  const pending = localStorage.getItem(PENDING_KEY);
  if (pending) localStorage.setItem(STORAGE_KEY, pending);
  localStorage.removeItem(PENDING_KEY);
}

export function dropPendingKey(): void {
  localStorage.removeItem(PENDING_KEY);
}

export function storedPendingKey(): SealedKey | null {
  return sealedIn(PENDING_KEY);
}

/** The key sealed in this browser; null when there is none, or only what is not one. */
export function storedKey(): SealedKey | null {
  return sealedIn(STORAGE_KEY);
}

function sealedIn(slot: string): SealedKey | null {
  const text = localStorage.getItem(slot);
  if (!text) return null;
  try {
    const sealed = JSON.parse(text) as SealedKey;
    return typeof sealed.publicKey === "string" && /^[0-9a-f]{66}$/.test(sealed.publicKey) ? sealed : null;
  } catch {
    return null;
  }
}

/** Seals `secret` under `passphrase` as the key this browser keeps, replacing any other. */
export async function keepKey(secret: Uint8Array, passphrase: string): Promise<void> {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(await sealSecretKey(secret, passphrase)));
}

/** The unlocked key, for the rest of the page. */
export interface Unlocked {
  secret: Uint8Array;
  /** The person the key signs for (`signsFor`): its own address, or the one a rotation or recovery bound it to. */
  address: string;
  /** The key's own address, when it signs for another (a rotated or recovered key). */
  keyAddress?: string;
  /** Opened from a demo log-in link: kept in this page's memory only. */
  fromLink?: boolean;
}

/**
 * The person a key signs for: a key a rotation or a recovery bound to
 * someone's address acts as them (docs/ledger.md); the chain says so, on
 * proof. A key bound to nobody is its own address.
 */
export async function signsFor(u: Unlocked): Promise<Unlocked> {
  const bound = await query(KeyBindingSchema, `/key/${u.address}`);
  return bound ? { ...u, keyAddress: u.address, address: addressText(bound.identity) } : u;
}

/**
 * A demo log-in link (`…/portal/#login=<64 hex digits>`, written by the
 * main job into its run folder): the key is taken from the fragment, which
 * browsers never send to a server, and the fragment is cleared at once. The
 * key is not stored: closing the page logs out. Only a demonstration's
 * gateway (`--portal-demo-logins`, which its /health says) accepts them: a
 * real key in a link ends up in browser history and chat logs.
 */
export async function keyFromLink(): Promise<Unlocked | { refused: string } | null> {
  const m = /^#login=([0-9a-fA-F]{64})$/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, "", location.pathname + location.search);
  const demo = await fetch("/health")
    .then((r) => r.json())
    .then((h) => h.demo_logins === true)
    .catch(() => false);
  if (!demo) {
    return {
      refused:
        "This portal does not take keys from log-in links: they are for demonstrations only, because a link is kept in browser history. Set up or unlock your key below, and do not share that link.",
    };
  }
  try {
    const secret = importSecretKey(m[1]);
    return { secret, address: addressText(addressOf(publicKeyOf(secret))), fromLink: true };
  } catch {
    return null;
  }
}

function sentence(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Create or import, then seal: for a browser that holds no key yet. */
export function setUpScreen(onUnlocked: (u: Unlocked) => void): HTMLElement {
  const [secretLabel, secretInput] = field("secret-key", "Your secret key (64 hex digits; leave empty to create a new one)", "password");
  secretInput.required = false;
  const [passLabel, passInput] = field("new-passphrase", "Choose a passphrase (at least 8 characters)", "password", "new-password");
  const [againLabel, againInput] = field("passphrase-again", "The passphrase again", "password", "new-password");
  const alert = alertBox();
  const form = el(
    "form",
    { ariaLabel: "Set up your key" },
    el("h2", {}, "Set up your key"),
    el("p", {}, "Your key signs what you do and opens your records. It is kept only in this browser, sealed under your passphrase."),
    secretLabel,
    secretInput,
    passLabel,
    passInput,
    againLabel,
    againInput,
    el("button", { type: "submit" }, "Keep my key in this browser"),
    alert,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      if (passInput.value !== againInput.value) {
        throw new VaultError("the two passphrases differ");
      }
      const secret = secretInput.value.trim() ? importSecretKey(secretInput.value) : newSecretKey();
      await keepKey(secret, passInput.value);
      onUnlocked({ secret, address: addressText(addressOf(publicKeyOf(secret))) });
    } catch (e) {
      showAlert(alert, sentence(e));
    }
  });
  return el("section", {}, form);
}

/**
 * A sealed key's passphrase form: `open` gets the secret the passphrase
 * opened (and the key's address), and any refusal is shown as its sentence.
 */
function passphraseForm(
  sealed: SealedKey,
  text: { id: string; label: string; title: string; intro: string; button: string },
  open: (secret: Uint8Array, address: string) => Promise<void>,
): HTMLElement {
  const [passLabel, passInput] = field(text.id, text.label, "password", "current-password");
  const alert = alertBox();
  const address = addressText(addressOf(fromHex(sealed.publicKey)));
  const form = el(
    "form",
    { ariaLabel: text.title },
    el("h2", {}, text.title),
    el("p", {}, text.intro, el("span", { className: "address" }, address), "."),
    passLabel,
    passInput,
    el("button", { type: "submit" }, text.button),
    alert,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await open(await openSecretKey(sealed, passInput.value), address);
    } catch (e) {
      showAlert(alert, sentence(e));
    }
  });
  return el("section", {}, form);
}

/**
 * A replacement this browser began and did not see through: unlocked with
 * the passphrase chosen for it, it is kept if the chain bound it (the page
 * asks, on proof) and dropped if not.
 */
export function pendingScreen(sealed: SealedKey, onUnlocked: (u: Unlocked) => void): HTMLElement {
  const text = {
    id: "pending-passphrase",
    label: "The passphrase you chose for the new key",
    title: "Finish replacing your key",
    intro: "A replacement of your key began in this browser and was not seen through. Its new key is ",
    button: "Unlock the new key",
  };
  return passphraseForm(sealed, text, async (secret, address) => {
    signChainCallsWith(secret);
    const u = await signsFor({ secret, address });
    if (!u.keyAddress) {
      signChainCallsWith(null);
      dropPendingKey();
      throw new Error("the chain never bound this key to you: the replacement did not take effect, and your key below is still yours");
    }
    promotePendingKey();
    onUnlocked({ secret, address });
  });
}

/** Unlock the key sealed in this browser. */
export function unlockScreen(sealed: SealedKey, onUnlocked: (u: Unlocked) => void): HTMLElement {
  const text = { id: "passphrase", label: "Passphrase", title: "Unlock your key", intro: "This browser keeps the key of ", button: "Unlock" };
  return passphraseForm(sealed, text, async (secret, address) => onUnlocked({ secret, address }));
}

/** What an unlocked key shows: whose it is, and how to lock it again. */
export function unlockedScreen(u: Unlocked, onLock: () => void): HTMLElement {
  const lock = el("button", { type: "button", className: "secondary" }, "Lock");
  lock.addEventListener("click", () => {
    u.secret.fill(0);
    onLock();
  });
  return el(
    "section",
    { ariaLabel: "Your key" },
    el("h2", {}, "Unlocked"),
    el("p", {}, "Your address: ", el("span", { className: "address", dataset: { testid: "address" } }, u.address)),
    el("p", {}, "Public key: ", el("span", { className: "address" }, toHex(publicKeyOf(u.secret)))),
    u.keyAddress
      ? el("p", { className: "muted" }, "This key replaced your first one (a rotation or a recovery); it signs as you. Its own address: ", el("span", { className: "address" }, u.keyAddress))
      : "",
    u.fromLink ? el("p", { className: "muted" }, "Logged in from a demo link: this key is not kept in this browser.") : "",
    lock,
  );
}
