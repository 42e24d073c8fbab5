// Who a patient's document key is wrapped for, as the chain says now
// (client/src/read_path/readers.rs): the patient and their guardian, the
// author, the clinicians holding a current grant for the category
// (personally or through their organisation) — for demographics, a grant of
// any category, as the ledger's access rule reads them — and the
// break-glass escrow: every active gateway service of a current member.

import { type Grant, GrantListSchema, MemberStatus, type Organisation, OrganisationListSchema, type Participant, ParticipantKind, ParticipantListSchema, ParticipantSchema, ParticipantStatus } from "../gen/ehr/v1/state_pb";
import { AccessLevel, Category, Role, ServiceKind } from "../gen/ehr/v1/types_pb";
import { addressOf, addressText } from "../ledger/address";
import { ChainError, query, queryAll } from "./rpc";

export interface Reader {
  address: string;
  publicKey: Uint8Array;
}

const CLINICAL = [Role.DOCTOR, Role.NURSE, Role.PHARMACIST, Role.LAB_TECHNICIAN];

const readerOf = (p: Participant): Reader => ({ address: addressText(p.address), publicKey: p.publicKey });

const clinical = (p: Participant) =>
  p.kind === ParticipantKind.STAFF && p.status === ParticipantStatus.ACTIVE && CLINICAL.includes(p.role);

export async function documentReaders(patient: string, author: Reader, category: Category, also: Reader[] = []): Promise<Reader[]> {
  const p = await query(ParticipantSchema, `/participant/${patient}`);
  if (!p) throw new Error(`${patient} is not registered on chain`);
  const out: Reader[] = [readerOf(p), author];
  if (p.guardianPublicKey.length === 33) {
    // A registered guardian reads with the key they hold now (they may have
    // replaced the one she named); an unregistered one with the named key.
    const address = addressText(addressOf(p.guardianPublicKey));
    // Only a refusal to show his entry (a guardian who is a patient, to a
    // writer who may not read him) leaves the named key; any other failure
    // is not taken for "not registered".
    const registered = await query(ParticipantSchema, `/participant/${address}`).catch((e: unknown) => {
      if (e instanceof ChainError && e.code === "chain_call_not_allowed") return null;
      throw e;
    });
    out.push({ address, publicKey: registered?.publicKey.length === 33 ? registered.publicKey : p.guardianPublicKey });
  }
  const now = Date.now() / 1000;
  // A lab posting a result by its order may hold no grant of hers, and so
  // may not list her grants: it seals for her, her guardian, itself, the
  // orderer (in `also`) and the escrow, not her other grantees.
  const grants = await queryAll<Grant, typeof GrantListSchema>(GrantListSchema, `/grants/${patient}`).catch((e: unknown) => {
    if (also.length === 0) throw e;
    return [] as Grant[];
  });
  out.push(...also);
  for (const g of grants) {
    const covers =
      (g.category === category || g.category === Category.ALL || category === Category.DEMOGRAPHICS) &&
      (g.access === AccessLevel.READ || g.access === AccessLevel.WRITE) &&
      now < Number(g.expiresAt);
    if (!covers) continue;
    if (g.grantee?.kind.case === "clinician") {
      const c = await query(ParticipantSchema, `/participant/${addressText(g.grantee.kind.value)}`);
      if (c && clinical(c)) out.push(readerOf(c));
    } else if (g.grantee?.kind.case === "organisation") {
      const staff = await queryAll<Participant, typeof ParticipantListSchema>(ParticipantListSchema, `/staff/${g.grantee.kind.value}`);
      out.push(...staff.filter(clinical).map(readerOf));
    }
  }
  // The escrow: the ledger's index of gateways, each active and of a current member.
  const orgs = await queryAll<Organisation, typeof OrganisationListSchema>(OrganisationListSchema, "/organisations");
  const members = new Set(orgs.filter((o) => o.status === MemberStatus.ACTIVE).map((o) => o.orgId));
  const gateways = await queryAll<Participant, typeof ParticipantListSchema>(ParticipantListSchema, "/gateways");
  out.push(
    ...gateways
      .filter((m) => m.kind === ParticipantKind.SERVICE && m.serviceKind === ServiceKind.GATEWAY && m.status === ParticipantStatus.ACTIVE && members.has(m.orgId))
      .map(readerOf),
  );
  return out;
}
