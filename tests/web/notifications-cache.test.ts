import { describe, expect, it } from 'vitest';
import { takeNews, withNotification, withRead, type NotificationPage } from '../../src/client/web/notifications/cache.ts';
import { formatAge, targetOf } from '../../src/client/web/notifications/kinds.tsx';
import type { Notification as AppNotification } from '../../src/shared/notifications.ts';

const note = (id: string, eventSeq: number, overrides: Partial<AppNotification> = {}): AppNotification => ({
  id,
  kind: 'job_assigned',
  title: `Notification ${id}`,
  body: null,
  module: 'jobs',
  recordId: `job-${id}`,
  eventSeq,
  readAt: null,
  createdAt: new Date(0).toISOString(),
  ...overrides,
});
const page = (items: AppNotification[]): NotificationPage => ({ items, unread: items.filter((item) => !item.readAt).length, nextBefore: null });

describe('the cached notification list', () => {
  it('takes a live notification in its place, newest first, counting it unread once', () => {
    const before = page([note('c', 30), note('a', 10, { readAt: new Date(1).toISOString() })]);
    const after = withNotification(before, note('b', 20))!;
    expect(after.items.map((item) => item.id)).toEqual(['c', 'b', 'a']);
    expect(after.unread).toBe(2);
    // Already there (a refetch was first): unchanged, not counted twice.
    expect(withNotification(after, note('b', 20))).toBe(after);
    // Nothing cached yet: left to the fetch.
    expect(withNotification(undefined, note('d', 40))).toBeUndefined();
    // Read elsewhere before it arrived: listed, not counted.
    expect(withNotification(after, note('e', 50, { readAt: new Date(2).toISOString() }))!.unread).toBe(2);
  });

  it('orders notifications of one event by id, as the server does', () => {
    expect(withNotification(page([note('x1', 10)]), note('x2', 10))!.items.map((item) => item.id)).toEqual(['x2', 'x1']);
  });

  it('marks some or all read, keeping when each was read first', () => {
    const earlier = new Date(1).toISOString();
    const now = new Date(5).toISOString();
    const before = page([note('c', 30), note('b', 20), note('a', 10, { readAt: earlier })]);
    const some = withRead(before, { ids: ['b', 'a', 'unknown'] }, now)!;
    expect(some.items.map((item) => item.readAt)).toEqual([null, now, earlier]);
    expect(some.unread).toBe(1);
    const all = withRead(some, { all: true }, now)!;
    expect(all.items.every((item) => item.readAt)).toBe(true);
    expect(all.unread).toBe(0);
    expect(withRead(undefined, { all: true }, now)).toBeUndefined();
  });

  it('announces each unread notification raised after the baseline once', () => {
    const announced = new Set<string>();
    const first = page([note('new', 12), note('read', 11, { readAt: new Date(1).toISOString() }), note('old', 9)]);
    expect(takeNews(first, 10, announced).map((item) => item.id)).toEqual(['new']);
    expect(takeNews(first, 10, announced)).toEqual([]);
    const second = page([note('newer', 14), note('also', 13), ...first.items]);
    expect(takeNews(second, 10, announced).map((item) => item.id)).toEqual(['newer', 'also']);
  });
});

describe('a notification', () => {
  it('leads to its record in one of the six record modules, its conversation in the inbox, or the calls', () => {
    expect(targetOf({ module: 'jobs', recordId: 'j1' })).toBe('/jobs/j1');
    expect(targetOf({ module: 'appointments', recordId: 'a/1' })).toBe('/appointments/a%2F1');
    expect(targetOf({ module: 'conversations', recordId: 'c1' })).toBe('/inbox/c1');
    expect(targetOf({ module: 'calls', recordId: 'k1' })).toBe('/calls');
    expect(targetOf({ module: 'reminders', recordId: 'r1' })).toBeNull();
    expect(targetOf({ module: 'jobs', recordId: null })).toBeNull();
    expect(targetOf({ module: null, recordId: 'x' })).toBeNull();
  });

  it('shows its age in words, and the date after a week', () => {
    const now = Date.parse('2026-03-10T12:00:00Z');
    expect(formatAge('2026-03-10T11:59:40Z', now)).toBe('just now');
    expect(formatAge('2026-03-10T11:55:00Z', now)).toMatch(/5/);
    expect(formatAge('2026-03-10T09:00:00Z', now)).toMatch(/3/);
    expect(formatAge('2026-02-01T09:00:00Z', now)).toMatch(/2026/);
    expect(formatAge('not a date', now)).toBe('not a date');
  });
});
