// Calls to the record gateway from the page: each signed with the unlocked
// key for this gateway (its address, from /health, is the audience), each
// refusal thrown as the gateway's sentence (docs/gateway.openapi.yaml).

import { utf8 } from "../crypto/bytes";
import { signRequest } from "./request";

export class GatewayError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

let audience: Promise<string> | null = null;

/** The gateway's own address, which requests to it are signed for. */
function gatewayAddress(): Promise<string> {
  audience ??= fetch("/health")
    .then((r) => r.json())
    .then((h) => String(h.address))
    .catch(() => {
      audience = null;
      throw new GatewayError("the gateway cannot be reached: check your connection and try again", "unreachable");
    });
  return audience;
}

async function signed<T>(secret: Uint8Array, method: string, pathAndQuery: string, body?: unknown): Promise<T> {
  const bytes = body === undefined ? undefined : utf8(JSON.stringify(body));
  const headers: Record<string, string> = {
    ...signRequest(secret, { audience: await gatewayAddress(), method, pathAndQuery, body: bytes }),
  };
  if (bytes) headers["content-type"] = "application/json";
  return answered<T>(() => fetch(pathAndQuery, { method, headers, body: bytes as BodyInit | undefined }));
}

/** The gateway's answer, or its refusal thrown as its sentence. */
async function answered<T>(send: () => Promise<Response>): Promise<T> {
  let response: Response;
  try {
    response = await send();
  } catch {
    throw new GatewayError("the gateway cannot be reached: check your connection and try again", "unreachable");
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    throw new GatewayError(answer?.message ?? `the gateway answered HTTP ${response.status}`, answer?.code ?? "http");
  }
  return answer as T;
}

export const gatewayGet = <T>(secret: Uint8Array, pathAndQuery: string) => signed<T>(secret, "GET", pathAndQuery);

/** What anyone may ask without a key (the code directory). */
export const publicGet = <T>(pathAndQuery: string) => answered<T>(() => fetch(pathAndQuery));

export const gatewayPost = <T>(secret: Uint8Array, pathAndQuery: string, body: unknown) =>
  signed<T>(secret, "POST", pathAndQuery, body);

/** A code of the consortium's directory (GET /v1/codes…), proven from the chain. */
export interface CodeItem {
  system: "loinc" | "icd10" | "snomed";
  code: string;
  display: string;
  unit?: string;
  min?: number;
  max?: number;
  status: "active" | "retired";
  added_by: number;
  retired_by?: number;
  reason?: string;
  replaced_by?: string;
}

/** A record as GET /v1/patients/{patient}/records serves it. */
export interface RecordItem {
  record_id: string;
  seq: number;
  category: string;
  device_id: string;
  loinc: string;
  measured_at_ms: number;
  ciphertext: string;
  ciphertext_sha256: string;
  key_id: string;
  wrapped_key: string | null;
  key_source: string | null;
  /** Erased: the erasure on chain that shredded it (its ciphertext and keys are gone). */
  erasure_id?: number | null;
  anchor: {
    service: string;
    batch_id: number;
    leaf_index: number;
    leaf_count: number;
    merkle_root: string;
    path: string[];
    height: number;
  } | null;
}

export interface RecordsPage {
  patient: string;
  category: string;
  basis: string;
  height: number;
  next_after: number | null;
  records: RecordItem[];
}
