// A rotated or recovered key acts as the person the chain bound it to; a
// key bound to nobody is its own address; and transactions count nonces
// per key, whoever the key signs for.

import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { beforeEach, describe, expect, it, vi } from "vitest";

import { utf8 } from "../src/crypto/bytes";
import { KeyBindingSchema } from "../src/gen/ehr/v1/state_pb";
import { addressOf, addressText, parseAddress } from "../src/ledger/address";

const asked: string[] = [];
const answers = new Map<string, Uint8Array>();

vi.mock("../src/chain/rpc", () => ({
  query: async (schema: Parameters<typeof import("@bufbuild/protobuf").fromBinary>[0], path: string) => {
    asked.push(path);
    const { fromBinary } = await import("@bufbuild/protobuf");
    const bytes = answers.get(path);
    return bytes ? fromBinary(schema, bytes) : null;
  },
}));

const person = (seed: string) => {
  const secret = sha256(utf8(seed));
  return { secret, address: addressText(addressOf(secp256k1.getPublicKey(secret, true))) };
};

describe("whom a key signs for", () => {
  beforeEach(() => {
    asked.length = 0;
    answers.clear();
  });

  it("a key bound by a rotation or recovery acts as the person it is bound to", async () => {
    const { signsFor } = await import("../src/ui/keys");
    const first = person("alice's first phone");
    const phone = person("alice's new phone");
    answers.set(
      `/key/${phone.address}`,
      toBinary(KeyBindingSchema, create(KeyBindingSchema, { identity: parseAddress(first.address), boundAtHeight: 9n })),
    );
    const u = await signsFor({ secret: phone.secret, address: phone.address });
    expect(u.address).toBe(first.address);
    expect(u.keyAddress).toBe(phone.address);
    expect(asked).toEqual([`/key/${phone.address}`]);
  });

  it("a key bound to nobody is its own address", async () => {
    const { signsFor } = await import("../src/ui/keys");
    const bob = person("bob");
    const u = await signsFor({ secret: bob.secret, address: bob.address });
    expect(u.address).toBe(bob.address);
    expect(u.keyAddress).toBeUndefined();
  });
});
