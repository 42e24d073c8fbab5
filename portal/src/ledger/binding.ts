// A new key's proof that it may be bound to a person (the ledger's
// `prove_binding`, abci-app/core/src/ledger/actions/rotation.rs): its
// signature over "ehr-key-binding-v1\n<rotation|recovery>\n<ehr1 address>".
// The purpose is signed, so the proof a new phone shows its recovery
// contacts cannot be used by a thief holding the lost key to rotate first.

import { utf8 } from "../crypto/bytes";
import { signMessage } from "../crypto/sign";

export type Binding = "rotation" | "recovery";

export const bindingMessage = (why: Binding, identity: string) => utf8(`ehr-key-binding-v1\n${why}\n${identity}`);

export const proveBinding = (newSecret: Uint8Array, why: Binding, identity: string) => signMessage(newSecret, bindingMessage(why, identity));
