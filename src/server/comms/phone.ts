import type { Tx } from '../db/client.ts';

/** `+1 (555) 010-2000` → `+15550102000`: how numbers are stored and compared. */
export function normalizePhone(input: string): string | null {
  const digits = input.replace(/[^0-9]/g, '');
  if (digits.length < 3 || digits.length > 15) return null;
  return `+${digits}`;
}

/** The client or lead of the org with this number (stored in any format), to name a new conversation or call. */
export async function findContact(tx: Tx, orgId: string, phone: string): Promise<{ clientId: string | null; leadId: string | null; name: string | null }> {
  const digits = phone.replace(/[^0-9]/g, '');
  const clients = await tx.$queryRaw<{ id: string; name: string }[]>`
    SELECT id, "firstName" || ' ' || "lastName" AS name FROM "Client"
    WHERE "orgId" = ${orgId} AND regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g') = ${digits}
    ORDER BY "createdAt" LIMIT 1`;
  if (clients[0]) return { clientId: clients[0].id, leadId: null, name: clients[0].name };
  const leads = await tx.$queryRaw<{ id: string; name: string }[]>`
    SELECT id, name FROM "Lead"
    WHERE "orgId" = ${orgId} AND regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g') = ${digits}
    ORDER BY "createdAt" LIMIT 1`;
  if (leads[0]) return { clientId: null, leadId: leads[0].id, name: leads[0].name };
  return { clientId: null, leadId: null, name: null };
}
