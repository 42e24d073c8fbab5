// Small helpers to build the page's elements without a framework.

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(node, rest);
  for (const [k, v] of Object.entries(dataset ?? {})) node.dataset[k] = v;
  node.append(...children);
  return node;
}

/** A labelled input: the label names it for screen readers and clicks. */
export function field(
  id: string,
  label: string,
  type = "text",
  autocomplete: AutoFill = "off",
): [HTMLLabelElement, HTMLInputElement] {
  const input = el("input", { id, name: id, type, autocomplete, required: true });
  return [el("label", { htmlFor: id }, label), input];
}

/** Where a refusal's sentence is shown, announced by screen readers. */
export function alertBox(): HTMLParagraphElement {
  const box = el("p", { className: "alert", hidden: true });
  box.setAttribute("role", "alert");
  return box;
}

export function showAlert(box: HTMLElement, message: string): void {
  box.textContent = message;
  box.hidden = false;
}

/**
 * Runs what a button asks for: the button is disabled meanwhile; a refusal's
 * sentence goes to `alert`, what was done to `done` (announced politely).
 */
export async function act(
  button: HTMLButtonElement,
  alert: HTMLElement,
  done: HTMLElement,
  work: () => Promise<string>,
): Promise<boolean> {
  button.disabled = true;
  alert.hidden = true;
  done.textContent = "Sending…";
  try {
    done.textContent = await work();
    return true;
  } catch (e) {
    done.textContent = "";
    showAlert(alert, e instanceof Error ? e.message : String(e));
    return false;
  } finally {
    button.disabled = false;
  }
}

/** Where what was done is said, announced without interrupting. */
export function statusBox(): HTMLParagraphElement {
  const box = el("p", { className: "done" });
  box.setAttribute("role", "status");
  return box;
}

/** A table that scrolls sideways within the page at a phone's width. */
export function scrollable(table: HTMLTableElement): HTMLDivElement {
  const box = el("div", { className: "scroll" }, table);
  box.tabIndex = 0;
  box.setAttribute("role", "region");
  box.setAttribute("aria-label", table.caption?.textContent ?? "table");
  return box;
}

/** A titled part of the page with a button that loads it again. */
export function panel(id: string, title: string, load: (into: HTMLElement) => Promise<unknown>): HTMLElement {
  const body = el("div", { dataset: { testid: id } });
  const again = el("button", { type: "button", className: "secondary small" }, "Refresh");
  again.setAttribute("aria-label", `Refresh ${title.toLowerCase()}`);
  const reload = () => {
    again.disabled = true;
    void load(body)
      // What could not be loaded says why, where it would have been.
      .catch((e: unknown) => {
        const alert = alertBox();
        showAlert(alert, e instanceof Error ? e.message : String(e));
        body.replaceChildren(alert);
      })
      .finally(() => {
        again.disabled = false;
      });
  };
  again.addEventListener("click", reload);
  reload();
  return el("section", { id, ariaLabel: title }, el("div", { className: "heading" }, el("h2", {}, title), again), body);
}
