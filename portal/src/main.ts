// The portal's entry: the key screen first; once a key is unlocked, what
// the chain says its owner may do.

import { homeScreen } from "./ui/home";
import { type Unlocked, keyFromLink, setUpScreen, storedKey, unlockScreen, unlockedScreen } from "./ui/keys";

const app = document.getElementById("app") as HTMLElement;

function show(...screens: HTMLElement[]): void {
  app.replaceChildren(...screens);
  screens[0]?.querySelector<HTMLElement>("input, button")?.focus();
}

function start(): void {
  const sealed = storedKey();
  show(sealed ? unlockScreen(sealed, unlocked) : setUpScreen(unlocked));
}

function unlocked(u: Unlocked): void {
  const key = unlockedScreen(u, start);
  show(key);
  void homeScreen(u, () => unlocked(u)).then((parts) => app.append(...parts));
}

const linked = keyFromLink();
if (linked) unlocked(linked);
else start();
