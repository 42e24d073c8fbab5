// The portal's entry: the key screen first; the rest of the portal opens
// once a key is unlocked.

import { type Unlocked, setUpScreen, storedKey, unlockScreen, unlockedScreen } from "./ui/keys";

const app = document.getElementById("app") as HTMLElement;

function show(screen: HTMLElement): void {
  app.replaceChildren(screen);
  screen.querySelector<HTMLElement>("input, button")?.focus();
}

function start(): void {
  const sealed = storedKey();
  show(sealed ? unlockScreen(sealed, unlocked) : setUpScreen(unlocked));
}

function unlocked(u: Unlocked): void {
  show(unlockedScreen(u, start));
}

start();
