// The page's reading of an erasure is the ledger's rule (erasure::covers in
// abci-app/core/src/ledger/actions/erasure.rs): what was anchored by the
// erasure's block and is named, of a named category, or everything.

import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";

import { ErasureSchema } from "../src/gen/ehr/v1/state_pb";
import { Category } from "../src/gen/ehr/v1/types_pb";
import { covers } from "../src/records/erasure";

describe("an erasure covers", () => {
  const byId = create(ErasureSchema, { id: 1n, recordIds: ["rx-1"], height: 100n });
  const byCategory = create(ErasureSchema, { id: 2n, categories: [Category.LABS], height: 100n });
  const everything = create(ErasureSchema, { id: 3n, everything: true, height: 100n });

  it("a record it names, of its category, or any with everything — anchored by its block", () => {
    expect(covers(byId, "rx-1", Category.MEDICATIONS, 100)).toBe(true);
    expect(covers(byCategory, "order-9", Category.LABS, 40)).toBe(true);
    expect(covers(everything, "dev-1:7", Category.VITALS, 99)).toBe(true);
  });

  it("nothing anchored after its block, nor what it does not name", () => {
    expect(covers(byId, "rx-1", Category.MEDICATIONS, 101)).toBe(false);
    expect(covers(everything, "dev-1:7", Category.VITALS, 101)).toBe(false);
    expect(covers(byId, "rx-2", Category.MEDICATIONS, 50)).toBe(false);
    expect(covers(byCategory, "rx-1", Category.MEDICATIONS, 50)).toBe(false);
  });
});
