// End to end, in Debian's headless Chromium driven by playwright-core: the
// portal against a whole running consortium. A patient and a doctor each
// log in from a demo link, in browser contexts of their own:
//
//   1. the patient's readings are verified in the page, charted, and the
//      record altered in storage is shown as failed, with the reason; her
//      details (sealed by her hospital's front desk) open in her page;
//   2. she grants the doctor her vitals, labs and medications (read and
//      write) and shares the keys of past readings and her details;
//   3. the doctor finds her, by name, among his patients and sees them verified; he
//      prescribes and orders a lab test, sealed in his page; she sees both,
//      opened in hers and checked against their anchors;
//   4. she revokes; the doctor is refused with the chain's sentence;
//   5. he breaks the glass; the read is marked as emergency;
//   6. her trail shows his read, the emergency opened and the flagged read;
//   7. she binds a new device, and binding its id again is refused with the
//      chain's sentence; she withdraws research consent and it stays so;
//   8. a doctor nobody granted is refused in a sentence addressed to him;
//      General's pharmacist dispenses the prescription; its lab technician
//      posts the ordered test's result, which she reads; her guardian acts
//      for her;
//   9. she asks to amend the prescription; the doctor accepts in his page
//      with a correction, and she reads the original marked superseded; he
//      denies her request about the lab order, and she disagrees;
//  10. she erases her labs, and reads them as erased, on chain's word;
//  11. her friend, who named her as recovery contact, loses her phone: a
//      new key on a new phone, approved by her and by General's front desk,
//      reads the friend's past readings; the lost key is refused; the new
//      key is then replaced, and the next one reads them too.
// axe-core finds no serious violation on any page, and her page logs no
// error.
//
// Before her grant, the doctor is refused and asks her from his page; her
// grant shares her past readings in the same step, and he reads every one.
//
//   node e2e/story.e2e.mjs <portal url> <screenshot folder> <patient key hex> <doctor key hex> <altered record id> <no-grant doctor key> <pharmacist key> <lab key> <guardian key> <friend key> <front-desk admin key>
//
// Exit 0 when every check holds; otherwise it says which did not.

import { mkdirSync, readFileSync } from "node:fs";

import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bech32m } from "@scure/base";
import { createRequire } from "node:module";
import { launchBrowser } from "./browser.mjs";

// axe-core is evaluated in the page by the browser's debugging protocol: the
// page's Content-Security-Policy rightly refuses any script tag but its own.
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const [url, shots, patientKey, doctorKey, altered, strangerKey, pharmacistKey, labKey, guardianKey, friendKey, adminKey] = process.argv.slice(2);
if (!adminKey) {
  console.error("usage: node e2e/story.e2e.mjs <portal url> <screenshot folder> <patient key> <doctor key> <altered record id>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const addressOf = (hex) =>
  bech32m.encode("ehr", bech32m.toWords(sha256(secp256k1.getPublicKey(Uint8Array.from(Buffer.from(hex, "hex")), true)).slice(0, 20)));
const patientAddress = addressOf(patientKey);
const doctorAddress = addressOf(doctorKey);

const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
};

/** "N readings: V verified, P pending, K without a key for you, F failed." as numbers. */
const counts = (text) => {
  const n = (word) => Number((text.match(new RegExp(`(\\d+) ${word}`)) ?? [0, -1])[1]);
  return { all: n("readings"), verified: n("verified"), pending: n("pending"), noKey: n("without"), failed: n("failed") };
};

/** axe-core's serious and critical violations on the page as it is now. */
const accessible = async (page, what) => {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations);
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(serious.length === 0, `axe-core finds no serious violation on ${what}${serious.length ? `: ${serious.map((v) => `${v.id} (${v.nodes.length}: ${v.nodes[0]?.target})`).join(", ")}` : ""}`);
};

/** What `scope` says it did (its status box with `text`), or the refusal it shows instead, thrown. */
const doneOrRefused = async (scope, text) => {
  const done = scope.locator(".done").filter({ hasText: text });
  const refused = scope.locator(".alert:not([hidden])");
  await Promise.race([done.first().waitFor(LONG), refused.first().waitFor(LONG)]);
  if (await done.count()) return done.first();
  throw new Error(`refused: ${await refused.first().textContent()}`);
};

const browser = await launchBrowser();
const LONG = { timeout: 120_000 };
try {
  const viewport = { width: 1024, height: 900 };
  const patient = await (await browser.newContext({ viewport })).newPage();
  const doctor = await (await browser.newContext({ viewport })).newPage();
  // Every page the story opens is watched for uncaught errors.
  const watched = (page) => {
    page.on("pageerror", (e) => check(false, `no error in the page: ${e.message}`));
    return page;
  };
  const newPage = async () => watched(await (await browser.newContext({ viewport })).newPage());
  for (const page of [patient, doctor]) watched(page);
  // Her page asks nothing it is refused, and polls for its own transactions quietly.
  const consoleErrors = [];
  patient.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));

  // 1. Her readings, verified in the page; the altered one failed.
  await patient.goto(`${url}#login=${patientKey}`);
  check(!(await patient.evaluate(() => location.hash)), "the log-in link's key is cleared from the address bar");
  const mine = patient.locator("#readings").getByTestId("readings-summary");
  await mine.waitFor(LONG);
  const first = counts(await mine.textContent());
  check(first.verified > 0, `her readings are verified in the page (${await mine.textContent()})`);
  check(first.failed === 1, "exactly one reading fails verification: the one altered in storage");
  const alteredRow = patient.locator(`#readings tr[data-record="${altered}"]`);
  check((await alteredRow.getAttribute("data-verdict")) === "failed", `the altered record ${altered} is marked failed`);
  check(/may have been altered\. Do not rely on it/.test(await alteredRow.textContent()), "it says, to her, what that means and what to do");
  check(/SHA-256 is not the record's/.test(await alteredRow.textContent()), "with the technical reason one click away: its hash is not the record's");
  check((await patient.locator("#readings svg.chart").count()) > 0, "her readings are charted");
  check((await patient.locator("#readings svg.chart rect.normal").count()) > 0, "with the usual range shaded");
  check((await patient.locator("#readings svg.chart text").count()) >= 6, "and a time axis and a value axis labelled");
  check(
    (await patient.evaluate(() => localStorage.getItem("ehr-portal-key"))) === null,
    "a key from a log-in link is not stored in the browser",
  );
  // Her details, as her hospital's front desk sealed them, opened in the page.
  const details = patient.getByTestId("my-details");
  await details.waitFor(LONG);
  const herName = (await details.locator("dd").first().textContent()).trim();
  check(herName !== "" && !herName.startsWith("ehr1"), `her details open in her page: ${herName}`);
  // What fits on a screen: the tables run to hundreds of rows.
  await patient.locator("#readings").evaluate((e) => e.scrollIntoView());
  await patient.screenshot({ path: `${shots}/patient-readings.png` });

  // 2a. Before any grant, the doctor opens her by address: refused, in a
  //     sentence to him, and he asks her from his page.
  await doctor.goto(`${url}#login=${doctorKey}`);
  await doctor.getByLabel("A patient's address").fill(patientAddress);
  await doctor.getByRole("button", { name: "Open", exact: true }).click();
  const before = doctor.locator("#patient [role=alert]").first();
  await before.waitFor(LONG);
  check(/^You hold no current grant from .+ to read their vitals/.test(await before.locator("p").first().textContent()), `he is refused in a sentence to him: “${await before.locator("p").first().textContent()}”`);
  await doctor.getByRole("button", { name: /^Ask .* to share their vitals/ }).first().click();
  await doctor.locator("#patient .done").filter({ hasText: "Asked" }).first().waitFor(LONG);
  await patient.getByRole("button", { name: "Refresh who may read my records" }).click();
  const request = patient.locator(`#grants li[data-requester="${doctorAddress}"]`);
  await request.waitFor(LONG);
  check(/a doctor of north .* asks to read your vitals/.test(await request.textContent()), `she sees his request: “${await request.textContent()}”`);

  // 2b. She chooses General's pharmacy (her medications; General's lab
  //     works by the order alone), then grants the doctor her vitals, labs
  //     and medications for 30 days (he may write orders and prescriptions):
  //     past readings shared in the same step.
  const grantsDone = patient.locator("#grants .done");
  await patient.getByLabel("Grant to").fill("org:general");
  await patient.locator("#grant-vitals").uncheck();
  await patient.locator("#grant-medications").check();
  await patient.getByRole("button", { name: "Grant", exact: true }).click();
  await grantsDone.filter({ hasText: "Granted: org:general" }).waitFor(LONG);
  await patient.getByLabel("Grant to").fill(doctorAddress);
  await patient.locator("#grant-vitals").check();
  await patient.locator("#grant-labs").check();
  await patient.locator("#grant-medications").check();
  await patient.getByLabel("Access", { exact: true }).selectOption({ label: "read and write (orders, prescriptions)" });
  await patient.getByRole("button", { name: "Grant", exact: true }).click();
  await grantsDone.filter({ hasText: `Granted: ${doctorAddress}` }).waitFor(LONG);
  const grantRow = patient.locator(`#grants tr[data-grantee="${doctorAddress}"][data-category="vitals"]`);
  await grantRow.waitFor(LONG);
  check(true, "the grant is committed and listed");
  const shared = Number(((await grantsDone.textContent()).match(/can open (\d+) past reading/) ?? [0, 0])[1]);
  check(shared > 0, `granting shares her past readings in the same step, counted in readings: “${await grantsDone.textContent()}”`);
  await request.waitFor({ state: "detached", ...LONG });
  check(true, "granting him closes his request");
  await patient.locator("#grants").screenshot({ path: `${shots}/patient-grants.png` });

  // 3. He finds her among his patients and sees her vitals verified (a
  //    reload would log him out: the link's key lives in the page only).
  await doctor.goto("about:blank");
  await doctor.goto(`${url}#login=${doctorKey}`);
  const listed = doctor.locator(`#patients li[data-patient="${patientAddress}"]`);
  await listed.waitFor(LONG);
  check(true, "she is among the patients who granted him access");
  const named = listed.locator("details.person summary");
  await named.waitFor(LONG);
  check((await named.textContent()) === herName, `he sees her name, not her key: ${await named.textContent()}`);
  await named.click();
  check((await listed.locator("details.person .address").textContent()) === patientAddress, "her address is one click away");
  await listed.getByRole("button", { name: /^Open/ }).click();
  const his = doctor.locator("#patient").getByTestId("readings-summary");
  await his.waitFor(LONG);
  let seen = counts(await his.textContent());
  check(seen.verified > 0 && seen.failed === 1, `he sees her readings verified, the altered one failed (${await his.textContent()})`);
  // Every reading, past and new, opens for him: none is left without a key.
  for (let i = 0; i < 10 && seen.noKey !== 0; i++) {
    await doctor.waitForTimeout(2_000);
    await doctor.locator("#patient").getByRole("button", { name: "Refresh" }).click();
    await his.filter({ hasNotText: "Fetching" }).waitFor(LONG);
    seen = counts(await his.textContent());
  }
  check(seen.noKey === 0, `no reading is left without a key for him after her one step (${await his.textContent()})`);
  await doctor.locator("#patient").evaluate((e) => e.scrollIntoView());
  await doctor.screenshot({ path: `${shots}/clinician-vitals.png` });

  // 3b. He prescribes and orders a test; sealed in his page, anchored on chain.
  // (His forms' status, not the amendments'.)
  const written = doctor.locator("#patient .done").filter({ hasText: "Written and anchored" });
  await doctor.getByLabel("Drug (RxNorm code)").fill("197361");
  await doctor.getByLabel("Dose").fill("5");
  await doctor.getByLabel("Unit (UCUM").fill("mg");
  await doctor.getByLabel("Quantity").fill("30");
  await doctor.getByRole("button", { name: "Prescribe" }).click();
  await written.filter({ hasText: "prescription: RxNorm 197361" }).waitFor(LONG);
  check(true, `his prescription is sealed, stored and anchored (${await written.textContent()})`);
  // A digit mistyped is refused in his page, before anything is sealed.
  await doctor.getByLabel("Test (LOINC code)").fill("2345-6");
  await doctor.getByLabel("Lab (member organisation").fill("general");
  await doctor.getByRole("button", { name: "Order the test" }).click();
  const mistyped = doctor.locator("#patient [role=alert]").filter({ hasText: "the check digit of 2345 is 7, not 6" });
  await mistyped.waitFor(LONG);
  check(true, `a mistyped test code is refused in his page (${await mistyped.textContent()})`);
  await doctor.getByLabel("Test (LOINC code)").fill("2345-7");
  await doctor.getByRole("button", { name: "Order the test" }).click();
  await written.filter({ hasText: "lab order: LOINC 2345-7" }).waitFor(LONG);
  check(true, "his lab order is sealed, stored and anchored");
  const hisDocs = doctor.locator('#patient tr[data-verdict="verified"]').filter({ hasText: "RxNorm 197361" });
  await hisDocs.first().waitFor(LONG);
  check(true, "he sees his prescription, opened and verified against its anchor");
  await patient.getByRole("button", { name: "Refresh my prescriptions and lab orders" }).click();
  const herDocs = patient.locator('#documents tr[data-verdict="verified"]');
  await herDocs.filter({ hasText: "RxNorm 197361, 5 mg × 30, 0 refill(s)" }).waitFor(LONG);
  await herDocs.filter({ hasText: "lab order: LOINC 2345-7 at general" }).waitFor(LONG);
  check(true, "she sees the prescription and the lab order, opened in her page and verified");
  await patient.locator("#documents").screenshot({ path: `${shots}/patient-prescriptions.png` });

  // 4. She revokes; he is refused with the chain's sentence.
  await patient.getByRole("button", { name: `Revoke vitals from ${doctorAddress}` }).click();
  await grantsDone.filter({ hasText: "Revoked" }).waitFor(LONG);
  await grantRow.waitFor({ state: "detached", ...LONG });
  check(true, "the revocation is committed and the grant gone from her list");
  // The gateway decides on the newest state a signed header proves: the
  // revocation counts from the block after its own (a block interval), so he
  // refreshes until the chain's refusal shows.
  const refusal = doctor.locator("#patient").getByRole("alert").first();
  for (let i = 0; i < 60 && !(await refusal.isVisible()); i++) {
    await doctor.locator("#patient").getByRole("button", { name: "Refresh" }).click();
    await refusal.waitFor({ timeout: 2_000 }).catch(() => {});
  }
  await refusal.waitFor(LONG);
  const sentence = await refusal.textContent();
  check(/^You hold no current grant from .+ to read their vitals, and no emergency access/.test(sentence), `he is refused in a sentence addressed to him: “${sentence}”`);
  check(/holds no current read grant for vitals/.test(sentence), "with the chain's own sentence one click away");
  await doctor.screenshot({ path: `${shots}/clinician-refused.png`, fullPage: true });

  // 5. Break-glass: reason and justification, recorded; the read is marked.
  await doctor.getByLabel("Reason").selectOption({ label: "the patient is unconscious" });
  await doctor.getByLabel("Justification").fill("brought in unconscious; checking recent vitals");
  await doctor.getByRole("button", { name: "Open emergency access" }).click();
  const banner = doctor.locator("#patient .emergency");
  await banner.waitFor(LONG);
  check(/emergency access/.test(await banner.textContent()), "the read under emergency access is marked as audited");
  check(counts(await his.textContent()).verified > 0, "under emergency access he reads her readings verified");
  await doctor.locator("#patient").evaluate((e) => e.scrollIntoView());
  await doctor.screenshot({ path: `${shots}/break-glass.png` });

  // 6. Her trail: his read under her grant, the emergency opened, the flagged read.
  // The gateway logs reads on chain in batches: ask again until they are there.
  const hisRows = patient.locator(`#trail tr[data-accessor="${doctorAddress}"]`);
  const seenInTrail = async () => {
    const rows = await hisRows.evaluateAll((trs) => trs.map((tr) => ({ flagged: tr.dataset.emergency === "true", text: tr.textContent })));
    return {
      granted: rows.some((r) => !r.flagged && /read \d+ vitals/.test(r.text) && /your grant/.test(r.text)),
      opened: rows.some((r) => r.flagged && /opened emergency access/.test(r.text) && /checking recent vitals/.test(r.text)),
      flaggedRead: rows.some((r) => r.flagged && /read \d+ vitals/.test(r.text) && /emergency access/.test(r.text)),
    };
  };
  let trail = await seenInTrail();
  const deadline = Date.now() + 120_000;
  while (!(trail.granted && trail.opened && trail.flaggedRead) && Date.now() < deadline) {
    await patient.getByRole("button", { name: "Refresh who read my records" }).click();
    await patient.waitForTimeout(2_000);
    trail = await seenInTrail();
  }
  check(trail.granted, "her trail shows his read under her grant");
  check(trail.opened, "…the emergency access he opened, with its justification, flagged");
  check(trail.flaggedRead, "…and his read under it, flagged");
  await patient.locator("#trail").screenshot({ path: `${shots}/patient-trail.png` });

  // 7. A new device bound; its id again refused with the chain's sentence.
  const deviceKey = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString("hex");
  const devices = patient.locator("#devices");
  await devices.getByLabel("Device id").fill("portal-monitor-1");
  await devices.getByLabel("Device public key").fill(deviceKey);
  await devices.getByRole("button", { name: "Bind this device to me" }).click();
  await devices.locator(".done").filter({ hasText: "Bound" }).waitFor(LONG);
  await devices.locator("li").filter({ hasText: "portal-monitor-1" }).waitFor(LONG);
  check(true, "a device she binds in the page is bound on chain and listed");
  await devices.getByRole("button", { name: "Bind this device to me" }).click();
  const again = devices.getByRole("alert");
  await again.filter({ hasText: "portal-monitor-1" }).waitFor(LONG);
  check(/already; a device id is never reused/.test(await again.textContent()), `binding it again is refused with the chain's sentence: “${await again.textContent()}”`);
  await devices.getByLabel("Device public key").fill("02abc");
  await devices.getByRole("button", { name: "Bind this device to me" }).click();
  await again.filter({ hasText: "33 bytes" }).waitFor(LONG);
  check(true, "a malformed device key is refused in the page with the reason");

  const consent = patient.getByLabel("Analysts may use my de-identified readings");
  check(await consent.isChecked(), "her research consent, given in the story, is shown");
  await consent.uncheck();
  await patient.getByRole("button", { name: "Save research consent" }).click();
  await patient.locator("#grants .done").filter({ hasText: "withdrawn" }).waitFor(LONG);
  await patient.getByRole("button", { name: "Refresh who may read my records" }).click();
  await patient.waitForTimeout(2_000);
  check(!(await consent.isChecked()), "her research consent is withdrawn on chain and stays so when the page asks again");

  // 8a. A doctor nobody granted: refused, in a sentence to him, with a way to ask.
  const stranger = await newPage();
  await stranger.goto(`${url}#login=${strangerKey}`);
  await stranger.getByLabel("A patient's address").fill(patientAddress);
  await stranger.getByRole("button", { name: "Open", exact: true }).click();
  const strangerRefused = stranger.locator("#patient [role=alert]").first();
  await strangerRefused.waitFor(LONG);
  check(/^You hold no current grant from/.test(await strangerRefused.locator("p").first().textContent()), "a doctor nobody granted is refused in a sentence to him");
  const docRefusals = stranger.locator('#patient [data-testid="patient-documents"] [role=alert]');
  await docRefusals.first().waitFor(LONG);
  check((await docRefusals.count()) === 1, `one refusal for one cause, not one per category (${await docRefusals.count()})`);
  check(/prescriptions or lab orders and results/.test(await docRefusals.first().textContent()), "naming every kind it kept from him");
  await accessible(stranger, "a refused doctor's page");
  // He asks; she declines; his request is gone from her page.
  await stranger.getByRole("button", { name: /^Ask .* to share their vitals/ }).first().click();
  await stranger.locator("#patient .done").filter({ hasText: "Asked" }).first().waitFor(LONG);
  await patient.getByRole("button", { name: "Refresh who may read my records" }).click();
  const strangerAsks = patient.locator(`#grants li[data-requester="${addressOf(strangerKey)}"]`);
  await strangerAsks.waitFor(LONG);
  await strangerAsks.getByRole("button", { name: "Decline" }).click();
  await patient.locator("#grants .done").filter({ hasText: "Declined" }).waitFor(LONG);
  await strangerAsks.waitFor({ state: "detached", ...LONG });
  check(true, "she declines the request of a doctor she does not know, and it is closed");
  await stranger.screenshot({ path: `${shots}/clinician-no-grant.png`, fullPage: true });

  // 8b. General's pharmacist: her prescription (she chose General's pharmacy), dispensed.
  const pharmacist = await newPage();
  await pharmacist.goto(`${url}#login=${pharmacistKey}`);
  const toFill = pharmacist.locator('#to-fill tr[data-patient="' + patientAddress + '"]').filter({ hasText: "RxNorm 197361" });
  await toFill.first().waitFor(LONG);
  check(true, "the pharmacist sees her prescription, opened and checked in his page");
  await toFill.first().getByRole("button", { name: /^Dispense/ }).click();
  await pharmacist.locator("#to-fill .done").filter({ hasText: "Dispensed: fill 1 of 1" }).waitFor(LONG);
  await toFill.first().filter({ hasText: "all 1 fill(s) dispensed" }).waitFor(LONG);
  check(true, "he dispenses it; the ledger counts the fill and the page says none is left");
  await accessible(pharmacist, "the pharmacist's page");
  await pharmacist.screenshot({ path: `${shots}/pharmacist.png` });

  // 8c. General's lab, which she granted nothing: the open order, its
  //     result posted by the order alone, sealed; she reads it.
  const lab = await newPage();
  await lab.goto(`${url}#login=${labKey}`);
  const order = lab.locator(`#worklist li[data-patient="${patientAddress}"]`);
  await order.first().waitFor(LONG);
  check(/sealed for the patient's readers/.test(await order.first().textContent()), "the lab sees her open order; what it asks for is sealed from a lab she granted nothing");
  await order.first().getByLabel("Test (LOINC code)").fill("2345-7");
  await order.first().getByRole("textbox", { name: "Result", exact: true }).fill("5.4");
  await order.first().getByLabel("Unit").fill("mmol/L");
  await order.first().getByRole("button", { name: "Post the result" }).click();
  await order.first().locator(".done").filter({ hasText: "Posted" }).waitFor(LONG);
  check(true, "the result is sealed in the lab's page, stored by its order and anchored");
  await accessible(lab, "the lab's page");
  await lab.screenshot({ path: `${shots}/lab.png` });
  await patient.getByRole("button", { name: "Refresh my prescriptions and lab orders" }).click();
  await patient.locator('#documents tr[data-verdict="verified"]').filter({ hasText: "LOINC 2345-7 5.4 mmol/L" }).waitFor(LONG);
  check(true, "she reads the lab's result, opened in her page and verified");

  // 8d. Her guardian acts for her.
  const guardian = await newPage();
  await guardian.goto(`${url}#login=${guardianKey}`);
  await guardian.getByRole("button", { name: /^Act for/ }).first().click();
  const wardReadings = guardian.locator("#ward").getByTestId("readings-summary");
  await wardReadings.waitFor(LONG);
  check(counts(await wardReadings.textContent()).verified > 0, `her guardian reads her readings verified (${await wardReadings.textContent()})`);
  await guardian.locator(`#ward #grants tr[data-grantee="org:general"]`).first().waitFor(LONG);
  check(true, "and sees whom she granted");
  await accessible(guardian, "the guardian's page");
  await guardian.screenshot({ path: `${shots}/guardian.png` });

  // 9. She asks to amend the prescription; the doctor, who still holds her
  //    medications, accepts with a correction sealed in his page.
  const rxRow = patient.locator('#documents tr[data-verdict="verified"]').filter({ hasText: "RxNorm 197361, 5 mg × 30" });
  await rxRow.locator("summary").filter({ hasText: "Ask to amend this" }).click();
  await rxRow.getByLabel(/^What is wrong/).fill("The dose agreed with my doctor is 2.5 mg, not 5 mg.");
  await rxRow.getByRole("button", { name: "Ask the hospital to amend it" }).click();
  await rxRow.locator(".done").filter({ hasText: "Asked at height" }).waitFor(LONG);
  const asked = patient.locator("#amendments li").filter({ hasText: "waiting for the hospital" });
  for (let i = 0; i < 20 && !(await asked.count()); i++) {
    await patient.getByRole("button", { name: "Refresh amendments asked for" }).click();
    await patient.waitForTimeout(1_000);
  }
  check(/to be decided by north by/.test(await asked.first().textContent()), `her request is on chain with its due date: “${await asked.first().textContent()}”`);
  const toDecide = doctor.locator("#patient li[data-amendment]").filter({ hasText: "waiting for the hospital" });
  for (let i = 0; i < 20 && !(await toDecide.count()); i++) {
    await doctor.locator("#patient").getByRole("button", { name: "Refresh" }).click();
    await doctor.waitForTimeout(1_500);
  }
  await toDecide.first().locator("summary").filter({ hasText: "Accept" }).click();
  const correction = toDecide.first().getByLabel(/^The corrected record/);
  for (let i = 0; i < 40 && !(await correction.inputValue()); i++) await doctor.waitForTimeout(250);
  const original = await correction.inputValue();
  check(original.includes('"dose": "5"'), "accepting starts from the original, opened in his page");
  await correction.fill(original.replace('"dose": "5"', '"dose": "2.5"'));
  await toDecide.first().getByRole("button", { name: "Accept and write the correction" }).click();
  await doctor.locator("#patient .done").filter({ hasText: "Accepted at height" }).waitFor(LONG);
  check(true, "he accepts: the correction is sealed, stored under the amendment and anchored");
  await patient.getByRole("button", { name: "Refresh my prescriptions and lab orders" }).click();
  const superseded = patient.locator('#documents tr[data-verdict="superseded"]').filter({ hasText: "5 mg × 30" });
  await superseded.waitFor(LONG);
  check(/Superseded by correction-\d+/.test(await superseded.textContent()), "she reads the original marked superseded, with its correction named");
  await patient.locator('#documents tr[data-verdict="verified"]').filter({ hasText: "2.5 mg × 30" }).filter({ hasText: "Corrects rx-" }).waitFor(LONG);
  check(true, "and the correction, verified, linked to what it corrects");
  const accepted = patient.locator("#amendments li").filter({ hasText: "accepted: corrected" });
  for (let i = 0; i < 20 && !(await accepted.count()); i++) {
    await patient.getByRole("button", { name: "Refresh amendments asked for" }).click();
    await patient.waitForTimeout(1_000);
  }
  check((await accepted.count()) === 1, "her amendment reads as accepted");
  await patient.locator("#documents").screenshot({ path: `${shots}/patient-amendment.png` });

  // 9b. She asks to amend the lab order too; the doctor denies it on one of
  //     the rule's grounds, with an explanation; she attaches her disagreement.
  const orderRow = patient.locator('#documents tr[data-verdict="verified"]').filter({ hasText: "lab order: LOINC 2345-7" });
  await orderRow.locator("summary").filter({ hasText: "Ask to amend this" }).click();
  await orderRow.getByLabel(/^What is wrong/).fill("I did not agree to this test.");
  await orderRow.getByRole("button", { name: "Ask the hospital to amend it" }).click();
  await orderRow.locator(".done").filter({ hasText: "Asked at height" }).waitFor(LONG);
  const toDeny = doctor.locator("#patient li[data-amendment]").filter({ hasText: "waiting for the hospital" });
  for (let i = 0; i < 20 && !(await toDeny.count()); i++) {
    await doctor.locator("#patient").getByRole("button", { name: "Refresh" }).click();
    await doctor.waitForTimeout(1_500);
  }
  await toDeny.first().locator("summary").filter({ hasText: "Deny" }).click();
  await toDeny.first().getByLabel("Ground").selectOption({ label: "the record is accurate and complete" });
  await toDeny.first().getByLabel(/^Explanation to the patient/).fill("The test was agreed at your visit on 2 December.");
  await toDeny.first().getByRole("button", { name: "Deny", exact: true }).click();
  await doctor.locator("#patient .done").filter({ hasText: "Denied at height" }).waitFor(LONG);
  check(true, "he denies the other on one of the rule's grounds, his explanation sealed");
  const denied = patient.locator("#amendments li").filter({ hasText: "denied" });
  for (let i = 0; i < 20 && !(await denied.count()); i++) {
    await patient.getByRole("button", { name: "Refresh amendments asked for" }).click();
    await patient.waitForTimeout(1_000);
  }
  check(/the record is accurate and complete/.test(await denied.first().textContent()), `she reads the denial and its ground: “${await denied.first().textContent()}”`);
  await denied.first().locator("summary").filter({ hasText: "Disagree with this denial" }).click();
  await denied.first().getByLabel(/^Your statement of disagreement/).fill("I was never asked about this test.");
  await denied.first().getByRole("button", { name: "Attach my statement" }).click();
  await patient.locator("#amendments .done").filter({ hasText: "Attached at height" }).waitFor(LONG);
  const disputed = patient.locator("#amendments li").filter({ hasText: "statement of disagreement" });
  for (let i = 0; i < 20 && !(await disputed.count()); i++) {
    await patient.getByRole("button", { name: "Refresh amendments asked for" }).click();
    await patient.waitForTimeout(1_000);
  }
  check((await disputed.count()) === 1, "her statement of disagreement is attached, on chain");
  await patient.locator("#amendments").screenshot({ path: `${shots}/patient-amendments.png` });

  // 10. She erases her labs: the order and its result are shredded in the
  //     gateway and read as erased, on the erasure's word on chain.
  const erase = patient.locator("#erase");
  check(/No hospital must keep your records now/.test(await erase.textContent()), "no legal hold keeps her records");
  await erase.locator("#erase-labs").check();
  await erase.getByRole("button", { name: "Erase for good" }).click();
  await erase.getByRole("alert").filter({ hasText: "cannot be undone" }).waitFor(LONG);
  check(true, "erasing asks her to say she understands it cannot be undone");
  await erase.locator("#erase-sure").check();
  await erase.getByRole("button", { name: "Erase for good" }).click();
  await erase.locator(".done").filter({ hasText: "Erased at height" }).waitFor(LONG);
  const erasedRows = patient.locator('#documents tr[data-verdict="erased"]');
  for (let i = 0; i < 30 && (await erasedRows.count()) < 2; i++) {
    await patient.waitForTimeout(1_000);
    await patient.getByRole("button", { name: "Refresh my prescriptions and lab orders" }).click();
    await patient.waitForTimeout(1_000);
  }
  check((await erasedRows.count()) >= 2, `her lab order and its result read as erased (${await erasedRows.count()})`);
  check(/erased on .* under the patient's request \(GDPR art\. 17\): nothing of it is left to open/.test(await erasedRows.first().textContent()), "each says when and under what, not that it failed");
  check((await patient.locator('#documents tr[data-verdict="failed"]').count()) === 0, "no erased record reads as altered");
  await patient.locator("#documents").screenshot({ path: `${shots}/patient-erased.png` });

  // 11. Her friend names her as recovery contact, then loses her phone.
  const friendAddress = addressOf(friendKey);
  const friend = await newPage();
  await friend.goto(`${url}#login=${friendKey}`);
  const recovery = friend.locator("#recovery");
  await recovery.getByRole("textbox", { name: /^Recovery contacts/ }).fill(patientAddress);
  await recovery.getByRole("button", { name: "Save recovery contacts" }).click();
  await recovery.locator(".done").filter({ hasText: "Saved" }).waitFor(LONG);
  await recovery.getByTestId("recovery-policy").waitFor(LONG);
  check((await recovery.getByTestId("recovery-policy").textContent()).includes(patientAddress), "her friend's recovery contact is on chain");
  const phone = await newPage();
  await phone.goto(url);
  await phone.getByLabel("Choose a passphrase").fill("a new phone, a new passphrase");
  await phone.getByLabel("The passphrase again").fill("a new phone, a new passphrase");
  await phone.getByRole("button", { name: "Keep my key in this browser" }).click();
  await phone.getByLabel(/^Your address \(ehr1/).fill(friendAddress);
  await phone.getByRole("button", { name: /I lost my phone/ }).click();
  const newKey = (await phone.getByTestId("recovery-key").textContent()).trim();
  const proof = (await phone.getByTestId("recovery-proof").textContent()).trim();
  await phone.screenshot({ path: `${shots}/recovery-new-phone.png` });
  const approve = async (page, where) => {
    const form = page.locator(where);
    await form.getByLabel("Their address").fill(friendAddress);
    await form.getByLabel("Their new public key").fill(newKey);
    await form.getByLabel("Its recovery proof").fill(proof);
    await form.getByRole("button", { name: "Approve binding this key to them" }).click();
    await doneOrRefused(form, "Approved");
  };
  await approve(patient, "#help-recover");
  check(true, "she approves her friend's new key, as shown on the new phone");
  const desk = await newPage();
  await desk.goto(`${url}#login=${adminKey}`);
  await approve(desk, "#front-desk");
  check(true, "General's front desk checks her identity and approves the same key");
  await accessible(desk, "the front desk's page");
  // Unlocked again once a header proves the block that bound the key: her
  // page, with what a replaced key may do.
  const getBack = phone.getByRole("button", { name: "Get back the keys of my past records" });
  for (let i = 0; i < 10 && !(await getBack.count()); i++) {
    await phone.reload();
    await phone.getByLabel("Passphrase", { exact: true }).fill("a new phone, a new passphrase");
    await phone.getByRole("button", { name: "Unlock" }).click();
    await phone.locator("section h2").first().waitFor(LONG);
    await getBack.waitFor({ timeout: 15_000 }).catch(() => {});
  }
  check((await phone.getByTestId("address").textContent()) === friendAddress, "the new phone's key signs as her friend");
  await phone.getByRole("button", { name: "Get back the keys of my past records" }).click();
  const back = await doneOrRefused(phone.locator("#key"), "Done");
  const recovered = Number(((await back.textContent()).match(/keys of (\d+) reading/) ?? [0, 0])[1]);
  check(recovered > 0, `the escrow re-wraps her past readings for the new key: “${await back.textContent()}”`);
  const friendReadings = phone.locator("#readings").getByTestId("readings-summary");
  await phone.getByRole("button", { name: "Refresh my readings" }).click();
  await friendReadings.waitFor(LONG);
  check(counts(await friendReadings.textContent()).verified > 0, `the new key reads her past readings, verified (${await friendReadings.textContent()})`);
  await friend.getByRole("button", { name: "Refresh my readings" }).click();
  const dead = friend.locator("#readings [role=alert]").filter({ hasText: "was replaced" });
  await dead.waitFor(LONG);
  check(true, "the lost key is refused, in a sentence saying why");
  await phone.locator("#key").getByLabel(/^Passphrase to seal the new key/).fill("a rotated key's passphrase");
  await phone.getByRole("button", { name: "Replace my key" }).click();
  const rotated = await doneOrRefused(phone.locator("#key"), "Replaced");
  check(/opens \d+ past reading/.test(await rotated.textContent()), `she replaces the recovered key: “${await rotated.textContent()}”`);
  // The page starts again as the next key.
  await rotated.waitFor({ state: "detached", ...LONG });
  await phone.getByTestId("address").filter({ hasText: friendAddress }).waitFor(LONG);
  const third = phone.locator("#readings").getByTestId("readings-summary");
  await third.waitFor(LONG);
  check(counts(await third.textContent()).verified > 0, `the next key reads them too (${await third.textContent()})`);
  check((await phone.evaluate(() => JSON.parse(localStorage.getItem("ehr-portal-key")).publicKey)) !== newKey, "and is the key sealed in this browser now");
  await accessible(phone, "the recovered phone's page");

  await accessible(patient, "her page");
  await accessible(doctor, "the doctor's page");
  check(consoleErrors.length === 0, `her page logs no error (${consoleErrors.slice(0, 3).join(" | ")})`);

  // At a phone's width nothing runs off the side.
  await patient.setViewportSize({ width: 375, height: 800 });
  const overflow = await patient.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  const wide = await patient.evaluate(() =>
    [...document.querySelectorAll("body *")]
      .filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === "visible")
      .slice(0, 4)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}.${e.className}: ${e.textContent.slice(0, 40)}`),
  );
  check(overflow <= 1, `at 375 px the page fits its width (overflow ${overflow} px${overflow > 1 ? `: ${wide.join(", ")}` : ""})`);
} catch (e) {
  check(false, `the story ran to its end (${e.message})`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log("every check holds");
