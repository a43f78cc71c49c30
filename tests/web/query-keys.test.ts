import { getQueryKey } from '@trpc/react-query';
import { describe, expect, it } from 'vitest';
import { inputChoice, inputField, isQueryOf } from '../../src/client/web/realtime/query-keys.ts';
import { trpc } from '../../src/client/web/trpc.ts';

describe('query keys through tRPC’s getQueryKey', () => {
  const byId = getQueryKey(trpc.escrows.byId, { id: 'e1' }, 'query');
  const list = getQueryKey(trpc.escrows.list, { limit: 25, status: 'opened' }, 'infinite');

  it('recognises the queries of a procedure, whatever their input and type, and of a router', () => {
    expect(isQueryOf(byId, trpc.escrows.byId)).toBe(true);
    expect(isQueryOf(list, trpc.escrows.list)).toBe(true);
    expect(isQueryOf(list, trpc.escrows)).toBe(true);
    expect(isQueryOf(byId, trpc.escrows.list)).toBe(false);
    expect(isQueryOf(byId, trpc.jobs.byId)).toBe(false);
    expect(isQueryOf(['tandem', 'deleted', 'escrows', 'e1'], trpc.escrows.byId)).toBe(false);
  });

  it('reads the input a query was made with', () => {
    expect(inputField(byId, 'id')).toBe('e1');
    expect(inputField(list, 'search')).toBeUndefined();
    expect(inputField(getQueryKey(trpc.escrows.list), 'status')).toBeUndefined();
    expect(inputChoice(list, 'status', ['opened', 'closed'] as const)).toBe('opened');
    expect(inputChoice(list, 'status', ['closed'] as const)).toBeUndefined();
  });
});
