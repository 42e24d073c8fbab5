// Debian's headless Chromium, as both end-to-end scripts launch it. The page
// is served over HTTPS by a certificate of the run's authority (EHR_CA_FILE):
// the browser is told to accept chains holding that authority's key — a pin
// on one key, as a hospital's managed browsers trust its own authority — and
// nothing else new.
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const pinnedAuthority = () => {
  const file = process.env.EHR_CA_FILE;
  if (!file) return [];
  const spki = new X509Certificate(readFileSync(file)).publicKey.export({ type: "spki", format: "der" });
  return [`--ignore-certificate-errors-spki-list=${createHash("sha256").update(spki).digest("base64")}`];
};

export const launchBrowser = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...pinnedAuthority(),
    ],
  });
