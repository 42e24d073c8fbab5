// The portal's entry: the key screen first; once a key is unlocked, what
// the chain says its owner may do.

import { signChainCallsWith } from "./chain/rpc";
import { codeLookup } from "./ui/codes";
import { homeScreen } from "./ui/home";
import { alertBox, showAlert } from "./ui/dom";
import { type Unlocked, keyFromLink, pendingScreen, setUpScreen, signsFor, storedKey, storedPendingKey, unlockScreen, unlockedScreen } from "./ui/keys";

const app = document.getElementById("app") as HTMLElement;

function show(...screens: HTMLElement[]): void {
  app.replaceChildren(...screens);
  screens[0]?.querySelector<HTMLElement>("input, button")?.focus();
}

function start(notice?: string): void {
  signChainCallsWith(null);
  const sealed = storedKey();
  const pending = storedPendingKey();
  show(...(pending ? [pendingScreen(pending, unlocked)] : []), sealed ? unlockScreen(sealed, unlocked) : setUpScreen(unlocked), codeLookup());
  if (notice) {
    const box = alertBox();
    app.prepend(box);
    showAlert(box, notice);
  }
}

function unlocked(key: Unlocked): void {
  signChainCallsWith(key.secret);
  void signsFor(key)
    .then((u) => {
      show(unlockedScreen(u, start));
      return homeScreen(u, (next) => unlocked(next ?? key));
    })
    .then((parts) => app.append(...parts, codeLookup()))
    .catch((e: Error) => start(`The chain could not say whom this key signs for: ${e.message}. Try again shortly.`));
}

void keyFromLink().then((linked) => {
  if (linked === null) start();
  else if ("refused" in linked) start(linked.refused);
  else unlocked(linked);
});
