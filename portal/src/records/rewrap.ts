// Wrapping a patient's past data keys for another key, in the page: each
// key the gateway lists as missing for `reader` is opened here with the
// opener's key and wrapped for `readerKey`; only the new wraps leave the
// page. For a clinician she granted (opener and signer: her key), and for
// her own new key after a rotation (opener: the old key, which still opens
// them; signer: the new key, the only one the gateway still accepts).

import { base64 } from "@scure/base";

import { unwrapKey, wrapKey } from "../crypto/keywrap";
import { gatewayGet, gatewayPost } from "../gateway/client";

export interface Rewrapped {
  /** Records the wrapped keys open. */
  readings: number;
  /** Wraps the gateway held already. */
  present: number;
  /** Keys the opener could not open (wrapped for another key): left as they are. */
  unopened: number;
}

export async function rewrapKeys(
  keys: { open: Uint8Array; sign: Uint8Array },
  patient: string,
  reader: string,
  readerKey: Uint8Array,
  category: "vitals" | "all",
): Promise<Rewrapped> {
  const total: Rewrapped = { readings: 0, present: 0, unopened: 0 };
  let after = 0;
  for (;;) {
    const page = await gatewayGet<{ keys: { key_id: string; wrapped_key: string; records: number }[]; next_after: number | null }>(
      keys.sign,
      `/v1/patients/${patient}/wrapped-keys?category=${category}&missing_for=${reader}${after ? `&after=${after}` : ""}`,
    );
    const wraps = [];
    let records = 0;
    for (const k of page.keys) {
      let dataKey: Uint8Array;
      try {
        dataKey = await unwrapKey(keys.open, k.key_id, base64.decode(k.wrapped_key));
      } catch {
        // Wrapped for a key this opener does not hold (a lost one): the
        // escrow's re-wrap after a recovery is what opens it.
        total.unopened += 1;
        continue;
      }
      wraps.push({ key_id: k.key_id, wrapped_key: base64.encode(await wrapKey(2, readerKey, k.key_id, dataKey)) });
      records += k.records ?? 1;
      dataKey.fill(0);
    }
    if (wraps.length > 0) {
      const r = await gatewayPost<{ stored: number; already_present: number }>(keys.sign, `/v1/patients/${patient}/wrapped-keys`, { reader, wraps });
      total.readings += records;
      total.present += r.already_present;
    }
    if (page.next_after === null || page.keys.length === 0) return total;
    // A page that does not move on is the gateway's fault, not a loop's.
    if (page.next_after <= after) throw new Error("the gateway's pages of keys do not move forward: try again later");
    after = page.next_after;
  }
}
