// How the page names what the chain stores: categories, roles, bases,
// purposes, measurements and times, in words a patient reads.

import { AccessBasis, AuditKind, type Erasure } from "../gen/ehr/v1/state_pb";
import { AccessLevel, Category, DenialReason, EmergencyReason, ErasureBasis, HoldReason, Purpose, Role } from "../gen/ehr/v1/types_pb";

export const CATEGORIES: [Category, string][] = [
  [Category.VITALS, "vitals"],
  [Category.LABS, "labs"],
  [Category.MEDICATIONS, "medications"],
  [Category.NOTES, "notes"],
  [Category.IMAGING, "imaging"],
  [Category.DEMOGRAPHICS, "name and details"],
  [Category.ALL, "all categories"],
];

export const categoryName = (c: Category) => CATEGORIES.find(([k]) => k === c)?.[1] ?? "unknown category";

export const accessName = (a: AccessLevel) => (a === AccessLevel.WRITE ? "read and write" : "read");

const ROLES: Record<number, string> = {
  [Role.DOCTOR]: "doctor",
  [Role.NURSE]: "nurse",
  [Role.PHARMACIST]: "pharmacist",
  [Role.LAB_TECHNICIAN]: "lab technician",
  [Role.ADMIN]: "administrator",
};
export const roleName = (r: Role) => ROLES[r] ?? "staff";

const BASES: Record<number, string> = {
  [AccessBasis.NONE]: "no basis on chain — flagged for review",
  [AccessBasis.PATIENT]: "you",
  [AccessBasis.GUARDIAN]: "your guardian",
  [AccessBasis.GRANT]: "your grant",
  [AccessBasis.EMERGENCY]: "emergency access",
  [AccessBasis.HOME_ORGANISATION]: "the hospital that enrolled you",
};
export const basisName = (b: AccessBasis) => BASES[b] ?? "unknown";

const PURPOSES: Record<number, string> = {
  [Purpose.TREATMENT]: "treatment",
  [Purpose.EMERGENCY]: "emergency",
  [Purpose.PATIENT_REQUEST]: "your own request",
  [Purpose.PAYMENT]: "payment",
  [Purpose.OPERATIONS]: "operations",
  [Purpose.KEY_RECOVERY]: "your key's recovery (keys re-wrapped from the escrow)",
};
export const purposeName = (p: Purpose) => PURPOSES[p] ?? "unstated";

export const EMERGENCY_REASONS: [EmergencyReason, string][] = [
  [EmergencyReason.UNCONSCIOUS, "the patient is unconscious"],
  [EmergencyReason.LIFE_THREATENING, "life-threatening condition"],
  [EmergencyReason.UNABLE_TO_CONSENT, "the patient cannot consent"],
  [EmergencyReason.OTHER, "other (say why below)"],
];
export const reasonName = (r: EmergencyReason) => EMERGENCY_REASONS.find(([k]) => k === r)?.[1] ?? "unstated";

export const isEmergencyOpened = (k: AuditKind) => k === AuditKind.EMERGENCY_OPENED;

/**
 * The usual range of an adult at rest, shaded on charts as orientation, not
 * as a diagnosis (fasting glucose; systolic below 120 and diastolic below
 * 80 mmHg as current guidelines call normal).
 */
const NORMAL: Record<string, [string, number, number]> = {
  "8867-4": ["/min", 60, 100],
  "59408-5": ["%", 95, 100],
  "8480-6": ["mm[Hg]", 90, 120],
  "8462-4": ["mm[Hg]", 60, 80],
  "2339-0": ["mg/dL", 70, 99],
  "15074-8": ["mmol/L", 3.9, 5.5],
  "8310-5": ["Cel", 36.1, 37.2],
  "9279-1": ["/min", 12, 20],
};
/** The usual range of a measurement in its UCUM unit; none for another unit. */
export function normalRange(loinc: string, ucum: string): [number, number] | undefined {
  const n = NORMAL[loinc];
  return n && n[0] === ucum ? [n[1], n[2]] : undefined;
}

/** UCUM units as a reader writes them. */
export const unitText = (u: string) => ({ "/min": "/min", Cel: "°C", "mm[Hg]": "mmHg" })[u] ?? u;

export const timeText = (ms: number) =>
  new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });

export const secondsText = (s: bigint | number) => timeText(Number(s) * 1000);

/** The grounds the rule allows for denying an amendment (HIPAA §164.526(a)(2)), in a patient's words. */
export const DENIAL_REASONS: [DenialReason, string][] = [
  [DenialReason.ACCURATE_AND_COMPLETE, "the record is accurate and complete"],
  [DenialReason.NOT_CREATED_HERE, "the record was not created by this hospital"],
  [DenialReason.NOT_IN_RECORD_SET, "it is not part of the records the patient may amend"],
  [DenialReason.NOT_AVAILABLE_FOR_INSPECTION, "it is not available to the patient for inspection"],
];
export const denialName = (r: DenialReason) => DENIAL_REASONS.find(([k]) => k === r)?.[1] ?? "an unstated ground";

/** Why records were erased (abci-app/core/src/ledger/actions/erasure.rs, basis_words). */
const ERASURE_BASES: Record<number, string> = {
  [ErasureBasis.PATIENT_REQUEST]: "the patient's request (GDPR art. 17)",
  [ErasureBasis.CONSENT_WITHDRAWN]: "consent withdrawn",
  [ErasureBasis.LEGAL_ORDER]: "a legal order",
};
export const erasureBasisName = (b: ErasureBasis) => ERASURE_BASES[b] ?? "an unstated basis";

const HOLD_REASONS: Record<number, string> = {
  [HoldReason.LITIGATION]: "litigation",
  [HoldReason.REGULATORY_RETENTION]: "a regulator's retention period",
  [HoldReason.INVESTIGATION]: "an investigation",
};
export const holdReasonName = (r: HoldReason) => HOLD_REASONS[r] ?? "an unstated reason";

/** "erased on <date> under <basis> (<reference>)": what a reader sees instead of an erased record. */
export const erasedText = (e: Erasure) =>
  `erased on ${secondsText(e.erasedAt)} under ${erasureBasisName(e.basis)}${e.reference ? ` (${e.reference})` : ""}`;
