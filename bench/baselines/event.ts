/**
 * What every baseline fans out: an event shaped and sized like Tandem's `LEAD_CREATED`
 * (the full record in `data`), so each contestant moves the same bytes per delivery.
 */
let seq = 0;

export function makeEvent(orgId: string, name: string): Record<string, unknown> {
  seq += 1;
  const now = new Date().toISOString();
  const recordId = `bl${seq.toString(36).padStart(23, '0')}`;
  return {
    seq,
    type: 'LEAD_CREATED',
    module: 'leads',
    action: 'created',
    recordId,
    version: 1,
    data: {
      id: recordId,
      orgId,
      version: 1,
      createdAt: now,
      updatedAt: now,
      createdById: 'cmwqzjgqe0001ir7djewh5oj6',
      updatedById: 'cmwqzjgqe0001ir7djewh5oj6',
      name,
      email: null,
      phone: null,
      source: null,
      status: 'new',
      score: null,
    },
    userId: 'cmwqzjgqe0001ir7djewh5oj6',
    orgId,
    timestamp: now,
  };
}

/**
 * Baseline tokens are just `org:<id>` (`org:<id>:send` for a sender, which joins no
 * room, as Tandem's senders subscribe to nothing): the harness measures fan-out, not auth.
 */
export function orgOfToken(token: unknown): string | null {
  return typeof token === 'string' && token.startsWith('org:') ? token.slice(4).replace(/:send$/, '') : null;
}

export function isSenderToken(token: unknown): boolean {
  return typeof token === 'string' && token.endsWith(':send');
}

export function listening(port: number): void {
  console.log(`listening on ${port}`);
}
