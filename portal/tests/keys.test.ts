// State keys derived in the page from a query path, held to the ledger's own
// derivation (client/tests/vectors/state-keys.json, written and checked by
// client/tests/the_state_key_vector_is_what_the_ledger_derives_from_a_path.rs).

import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { stateKey } from "../src/ledger/keys";

const vector = JSON.parse(
  readFileSync(new URL("../../client/tests/vectors/state-keys.json", import.meta.url), "utf8"),
);

describe("state keys", () => {
  it("are the keys the ledger derives from the same paths", () => {
    for (const { path, key } of vector.keys) expect(stateKey(path)).toBe(key);
  });

  it("are refused for paths that name no single key", () => {
    for (const path of vector.no_key) expect(() => stateKey(path)).toThrow();
  });
});
