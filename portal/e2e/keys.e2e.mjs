// End to end, in Debian's headless Chromium driven by playwright-core: the
// key screen of the portal as the gateway serves it. A user imports a key,
// seals it under a passphrase, sees their address; the browser's storage
// holds no secret; locked, the key opens only with the passphrase, and a
// refusal is shown as its sentence; the page works by keyboard and at a
// phone's width; a log-in link is refused (this gateway is not a
// demonstration's); anyone looks up a code of the directory without a key.
// Screenshots go to the folder given.
//
//   node e2e/keys.e2e.mjs <portal url> <screenshot folder>
//
// Exit 0 when every check holds; otherwise it says which did not.

import { mkdirSync } from "node:fs";
import { createHash } from "node:crypto";

import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bech32m } from "@scure/base";
import { launchBrowser } from "./browser.mjs";

const [url, shots] = process.argv.slice(2);
if (!url || !shots) {
  console.error("usage: node e2e/keys.e2e.mjs <portal url> <screenshot folder>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

// The key of the vectors' "alice": SHA-256("alice").
const secretHex = createHash("sha256").update("alice").digest("hex");
const publicKey = secp256k1.getPublicKey(Uint8Array.from(Buffer.from(secretHex, "hex")), true);
const expectedAddress = bech32m.encode("ehr", bech32m.toWords(sha256(publicKey).slice(0, 20)));

const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
};

const browser = await launchBrowser();
try {
  // A log-in link on a gateway that is not a demonstration's: refused with
  // the sentence, the key taken out of the address bar, nothing unlocked.
  const linked = await browser.newPage();
  await linked.goto(`${url}#login=${secretHex}`);
  await linked.getByRole("alert").waitFor({ timeout: 30_000 });
  check(
    (await linked.getByRole("alert").textContent()).includes("does not take keys from log-in links"),
    "a log-in link is refused outside a demonstration, with the reason",
  );
  check(!linked.url().includes(secretHex), "the key is gone from the address bar");
  check((await linked.getByRole("heading", { name: "Unlocked" }).count()) === 0, "nothing is unlocked from the link");
  await linked.close();

  const page = await browser.newPage({ viewport: { width: 1024, height: 760 } });
  await page.goto(url);
  await page.getByRole("heading", { name: "Set up your key" }).waitFor();
  check(
    (await page.evaluate(() => document.activeElement?.id)) === "secret-key",
    "the first field has the keyboard's focus",
  );
  await page.screenshot({ path: `${shots}/set-up-key.png` });

  // Anyone looks up a code, before holding any key: the consortium's
  // directory, each code proven by the gateway.
  await page.getByLabel("A code or words of its name").fill("heart");
  await page.getByRole("button", { name: "Look up" }).click();
  const heart = page.locator('tr[data-code="8867-4"]');
  await heart.waitFor({ timeout: 30_000 });
  const heartRow = await heart.textContent();
  check(heartRow.includes("heart rate") && heartRow.includes("/min, 20–300") && heartRow.includes("active"), `anyone looks up a code without a key, with its unit and range (${heartRow})`);
  await page.screenshot({ path: `${shots}/code-lookup.png` });

  // Passphrases that differ are refused with the sentence.
  await page.getByLabel("Your secret key").fill(secretHex);
  await page.getByLabel("Choose a passphrase").fill("correct horse battery");
  await page.getByLabel("The passphrase again").fill("correct horse batterY");
  await page.keyboard.press("Enter");
  const alert = page.getByRole("alert");
  await alert.waitFor();
  check((await alert.textContent()) === "the two passphrases differ", "differing passphrases are refused with the reason");

  await page.getByLabel("The passphrase again").fill("correct horse battery");
  await page.getByRole("button", { name: "Keep my key in this browser" }).click();
  await page.getByRole("heading", { name: "Unlocked" }).waitFor({ timeout: 30_000 });
  const shown = await page.getByTestId("address").textContent();
  check(shown === expectedAddress, `the page shows the key's address (${shown})`);
  // The chain, asked through the gateway, knows no such key: the page says
  // what to do instead of showing an empty patient's page.
  await page.getByRole("heading", { name: "Not registered yet" }).waitFor({ timeout: 30_000 });
  check(true, "a key no hospital enrolled is told how to get enrolled");
  await page.screenshot({ path: `${shots}/unlocked.png` });

  const stored = await page.evaluate(() => localStorage.getItem("ehr-portal-key") ?? "");
  check(stored.includes('"ehr-portal-key-v1"'), "the browser stores the sealed key");
  check(!stored.toLowerCase().includes(secretHex), "the browser's storage holds no secret key in clear");

  // Locked: a wrong passphrase is refused with its sentence, the right one opens.
  await page.getByRole("button", { name: "Lock" }).click();
  await page.getByRole("heading", { name: "Unlock your key" }).waitFor();
  await page.reload();
  await page.getByRole("heading", { name: "Unlock your key" }).waitFor();
  check((await page.content()).includes(expectedAddress), "after a reload the page names the stored key's address");
  await page.getByLabel("Passphrase").fill("wrong passphrase");
  await page.keyboard.press("Enter");
  await page.getByRole("alert").waitFor({ timeout: 30_000 });
  const refusal = await page.getByRole("alert").textContent();
  check(
    refusal === "the passphrase does not open this key (or the stored key was altered)",
    `a wrong passphrase is refused with the sentence (${refusal})`,
  );
  await page.screenshot({ path: `${shots}/wrong-passphrase.png` });
  await page.getByLabel("Passphrase").fill("correct horse battery");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Unlocked" }).waitFor({ timeout: 30_000 });
  check((await page.getByTestId("address").textContent()) === expectedAddress, "the passphrase opens the same key");

  // A phone's width: nothing wider than the screen.
  await page.setViewportSize({ width: 375, height: 740 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `nothing overflows a 375-pixel-wide screen (${overflow} px)`);
  await page.screenshot({ path: `${shots}/unlocked-phone.png` });

  // A key replacement left unfinished in this browser (its new key sealed,
  // the rotation not seen through): offered after a reload, and dropped when
  // the chain says it never bound the key.
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.evaluate((sealed) => localStorage.setItem("ehr-portal-key-pending", sealed), stored);
  await page.getByRole("button", { name: "Lock" }).click();
  await page.reload();
  await page.getByRole("heading", { name: "Finish replacing your key" }).waitFor();
  await page.getByLabel("The passphrase you chose for the new key").fill("correct horse battery");
  await page.getByRole("button", { name: "Unlock the new key" }).click();
  const unbound = page.getByRole("alert").filter({ hasText: "never bound this key" });
  await unbound.waitFor({ timeout: 30_000 });
  check(true, "an unfinished replacement the chain never bound is said so");
  check((await page.evaluate(() => localStorage.getItem("ehr-portal-key-pending"))) === null, "and its key is dropped, the kept key untouched");
  check((await page.evaluate(() => localStorage.getItem("ehr-portal-key"))) === stored, "the key kept here is still the one sealed");
} finally {
  await browser.close();
}

if (failures.length) {
  console.error(`${failures.length} check(s) failed: ${failures.join("; ")}`);
  process.exit(1);
}
console.log("every check held");
