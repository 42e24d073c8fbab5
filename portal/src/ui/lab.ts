// A lab technician's work: the lab's open orders (the ledger's worklist),
// what each asks for where the page may open it, and the result posted —
// sealed in this page for the patient, her guardian, the ordering doctor,
// the lab and the emergency escrow, stored with the gateway by the order
// (no grant of hers needed: the order is the lab's authority) and anchored
// by a transaction signed here. Only its hash reaches the chain.

import { query, queryAll } from "../chain/rpc";
import { gatewayGet } from "../gateway/client";
import { type LabOrder, LabOrderListSchema, type Participant, ParticipantSchema } from "../gen/ehr/v1/state_pb";
import { addressText } from "../ledger/address";
import { type DocumentItem, openDocument } from "../records/documents";
import { loincProblem } from "../records/loinc";
import { writeDocument } from "./documents";
import { act, alertBox, el, field, statusBox } from "./dom";
import type { Unlocked } from "./keys";
import { secondsText } from "./words";

/**
 * What an order asks for, when the page may open it (the lab holds her labs
 * grant). A patient's labs are fetched once per worklist (each fetch is a
 * read in her audit trail), and a refusal means "not for this page to see".
 */
async function orderedTest(u: Unlocked, order: LabOrder, patient: string, fetched: Map<string, Promise<DocumentItem[]>>): Promise<string | null> {
  if (!fetched.has(patient)) {
    fetched.set(
      patient,
      gatewayGet<{ documents: DocumentItem[] }>(u.secret, `/v1/patients/${patient}/documents?category=labs`).then(
        (page) => page.documents,
        () => [],
      ),
    );
  }
  const item = (await fetched.get(patient))?.find((d) => d.record_id === order.orderRecordId);
  if (!item) return null;
  try {
    const doc = await openDocument(item, u.secret, patient);
    return doc.content.kind === "lab_order" ? doc.content.test_code : null;
  } catch {
    return null;
  }
}

export async function showWorklist(u: Unlocked, me: Participant, into: HTMLElement, names: Map<string, string>): Promise<void> {
  const orders = await queryAll<LabOrder, typeof LabOrderListSchema>(LabOrderListSchema, `/lab-orders/${me.orgId}`);
  if (orders.length === 0) {
    into.replaceChildren(el("p", {}, "No open order: every order to your lab has its result."));
    return;
  }
  const fetched = new Map<string, Promise<DocumentItem[]>>();
  const items = await Promise.all(orders.map((o) => orderItem(u, o, names, fetched, () => void showWorklist(u, me, into, names))));
  into.replaceChildren(el("ul", { className: "worklist" }, ...items));
}

async function orderItem(
  u: Unlocked,
  order: LabOrder,
  names: Map<string, string>,
  fetched: Map<string, Promise<DocumentItem[]>>,
  reload: () => void,
): Promise<HTMLElement> {
  const patient = addressText(order.patient);
  const test = await orderedTest(u, order, patient, fetched);
  const id = `order-${order.id}`;
  const [testLabel, testCode] = field(`${id}-test`, "Test (LOINC code)");
  testCode.value = test ?? "";
  const [valueLabel, value] = field(`${id}-value`, "Result");
  const [unitLabel, unit] = field(`${id}-unit`, "Unit (UCUM, e.g. mmol/L)");
  const submit = el("button", { type: "submit" }, "Post the result");
  const alert = alertBox();
  const done = statusBox();
  const form = el("form", { ariaLabel: `Result of order ${order.id}` }, testLabel, testCode, valueLabel, value, unitLabel, unit, submit, done, alert);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void act(submit, alert, done, async () => {
      // Shape and check digit only: a test ordered before its code was
      // retired still gets its result, under the code it was ordered by.
      const problem = loincProblem(testCode.value.trim());
      if (problem) throw new Error(problem);
      if (value.value.trim() === "") throw new Error("write the result's value");
      const doctor = await query(ParticipantSchema, `/participant/${addressText(order.doctor)}`);
      const orderer = doctor ? [{ address: addressText(doctor.address), publicKey: doctor.publicKey }] : [];
      const content = { kind: "lab_result" as const, order_id: Number(order.id), test_code: testCode.value.trim(), value: value.value.trim(), unit: unit.value.trim() };
      const written = await writeDocument(u, patient, content, (anchor) => ({ case: "postLabResult", value: { orderId: order.id, record: anchor } }), orderer, Number(order.id));
      setTimeout(reload, 1500);
      return `Posted: the result of order ${order.id} is sealed for ${written.readers} readers and anchored at height ${written.height}.`;
    });
  });
  return el(
    "li",
    { dataset: { order: String(order.id), patient } },
    el("strong", {}, `Order ${order.id}`),
    ` for ${names.get(patient) ?? patient}, ordered ${secondsText(order.orderedAt)}: `,
    test ? `LOINC ${test}` : "what to test is sealed for the patient's readers; the ordering doctor can tell you",
    form,
  );
}
