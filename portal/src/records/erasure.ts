// Whether an erasure on chain covers a record (the ledger's rule,
// abci-app/core/src/ledger/actions/erasure.rs `covers`): the record was
// anchored at or before the erasure's block, and the erasure names it, its
// category, or everything. A record served as erased that no erasure
// covers is a record withheld, and the page says so.

import type { Erasure } from "../gen/ehr/v1/state_pb";
import type { Category } from "../gen/ehr/v1/types_pb";

export function covers(e: Erasure, recordId: string, category: Category, anchorHeight: number): boolean {
  return (
    anchorHeight <= Number(e.height) && (e.everything || e.recordIds.includes(recordId) || e.categories.includes(category))
  );
}
