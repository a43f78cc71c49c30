import { describe, expect, expectTypeOf, it } from 'vitest';
import { logFilterOf, type QueryPath, type SubscriptionPath } from '../../src/client/link/log-filter.ts';

describe('logFilterOf', () => {
  it('knows the router’s procedures by path, from AppRouter', () => {
    expectTypeOf<'jobs.onChange'>().toExtend<SubscriptionPath>();
    expectTypeOf<'messages.onConversation'>().toExtend<SubscriptionPath>();
    expectTypeOf<'jobs.list'>().not.toExtend<SubscriptionPath>();
    expectTypeOf<'notifications.since'>().toExtend<QueryPath>();
    expectTypeOf<'jobs.onChanged'>().not.toExtend<SubscriptionPath>();
  });

  it('maps each log subscription to the part of the log that polling reads', () => {
    expect(logFilterOf('messages.onConversation', { conversationId: 'c1' })).toEqual({ modules: ['conversations'], recordId: 'c1' });
    expect(logFilterOf('calls.onChange', undefined)).toEqual({ modules: ['calls'] });
    expect(logFilterOf('jobs.onChange', { id: '' })).toEqual({ modules: ['jobs'] });
    const notifications = logFilterOf('notifications.onNew', {});
    expect(notifications?.poll?.path).toBe('notifications.since');
    expect(notifications?.poll?.trackedIdOf({ eventSeq: 42 })).toBe('42');
    expect(logFilterOf('jobs.list', {})).toBeNull();
  });
});
