// A record's ciphertext (client/src/record_encryption.rs, docs/ingest.md):
//   0x01 ‖ nonce (12) ‖ AES-256-GCM(data key, nonce, plaintext, aad = "ehr-record-v1" ‖ record id)
// The record id in the AAD binds the blob to its record: moved to another
// record, it does not open.

import { buffer, concat, utf8 } from "./bytes";

const RECORD_VERSION = 1;

export class RecordError extends Error {}

async function aesKey(dataKey: Uint8Array): Promise<CryptoKey> {
  if (dataKey.length !== 32) {
    throw new RecordError(`a data key has 32 bytes; this one has ${dataKey.length}`);
  }
  return crypto.subtle.importKey("raw", buffer(dataKey), "AES-GCM", false, ["encrypt", "decrypt"]);
}

export async function sealRecord(
  dataKey: Uint8Array,
  recordId: string,
  plaintext: Uint8Array,
  nonce: Uint8Array = crypto.getRandomValues(new Uint8Array(12)),
): Promise<Uint8Array> {
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: buffer(nonce), additionalData: buffer(utf8(`ehr-record-v1${recordId}`)) },
    await aesKey(dataKey),
    buffer(plaintext),
  );
  return concat(Uint8Array.of(RECORD_VERSION), nonce, new Uint8Array(sealed));
}

export async function openRecord(dataKey: Uint8Array, recordId: string, blob: Uint8Array): Promise<Uint8Array> {
  if (blob.length < 1 + 12 + 16) {
    throw new RecordError(`a record's ciphertext has at least 29 bytes; this one has ${blob.length}`);
  }
  if (blob[0] !== RECORD_VERSION) {
    throw new RecordError(`record format ${blob[0]} is not one this portal opens (it opens 1)`);
  }
  const key = await aesKey(dataKey);
  try {
    const opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: buffer(blob.slice(1, 13)), additionalData: buffer(utf8(`ehr-record-v1${recordId}`)) },
      key,
      buffer(blob.slice(13)),
    );
    return new Uint8Array(opened);
  } catch {
    throw new RecordError(`record ${recordId} does not open with its key: it was altered or belongs to another record`);
  }
}
