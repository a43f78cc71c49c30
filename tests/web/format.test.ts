import { describe, expect, it } from 'vitest';
import { describeConnection } from '../../src/client/web/components/ConnectionIndicator.tsx';
import { fieldOf, fieldsOf } from '../../src/client/web/modules/fields.ts';
import { formatCents, formatValue, fromInputValue, toInputValue } from '../../src/client/web/modules/format.ts';
import { enumLabel, fieldLabel, moduleUi } from '../../src/client/web/modules/ui.ts';
import { parseRoute } from '../../src/client/web/App.tsx';
import { MODULE_NAMES, modules } from '../../src/shared/modules.ts';

describe('fields from the module definitions', () => {
  it('derives every field’s kind from its zod schema', () => {
    expect(fieldOf('escrows', 'purchasePriceCents')).toMatchObject({ kind: 'money', nullable: true });
    expect(fieldOf('escrows', 'closingDate')).toMatchObject({ kind: 'datetime' });
    expect(fieldOf('escrows', 'propertyAddress')).toMatchObject({ kind: 'text', required: true, nullable: false });
    expect(fieldOf('escrows', 'status')).toMatchObject({ kind: 'enum', options: ['opened', 'in_escrow', 'pending', 'closed', 'cancelled'] });
    expect(fieldOf('escrows', 'listingId')).toMatchObject({ kind: 'ref', ref: 'listings' });
    expect(fieldOf('jobs', 'assigneeId')).toMatchObject({ kind: 'ref', ref: 'users' });
    expect(fieldOf('jobs', 'notes')).toMatchObject({ kind: 'textarea' });
    expect(fieldOf('listings', 'beds')).toMatchObject({ kind: 'number', step: 1, min: 0, max: 100 });
    expect(fieldOf('listings', 'baths')).toMatchObject({ kind: 'number', step: 0.5 });
    expect(fieldOf('clients', 'email')).toMatchObject({ kind: 'email' });
    expect(fieldOf('leads', 'phone')).toMatchObject({ kind: 'tel' });
    expect(fieldOf('appointments', 'startsAt')).toMatchObject({ kind: 'datetime', required: true, nullable: false });
    expect(() => fieldOf('jobs', 'nope')).toThrow();
  });

  it('covers every field of every module, and each list column and status is a field', () => {
    for (const module of MODULE_NAMES) {
      expect(fieldsOf(module).map((field) => field.name)).toEqual(modules[module].fieldNames);
      for (const column of moduleUi[module].columns) expect(modules[module].fieldNames).toContain(column);
      expect(fieldOf(module, modules[module].statusField).kind).toBe('enum');
    }
  });

  it('labels fields and values for people', () => {
    expect(fieldLabel('escrows', 'purchasePriceCents')).toBe('Purchase price');
    expect(fieldLabel('leads', 'source')).toBe('Source');
    expect(fieldLabel('jobs', 'scheduledAt')).toBe('Scheduled');
    expect(fieldLabel('listings', 'address')).toBe('Address');
    expect(enumLabel('in_progress')).toBe('In progress');
    expect(moduleUi.clients.title({ firstName: 'Ada', lastName: 'Lovelace' })).toBe('Ada Lovelace');
  });
});

describe('money and dates', () => {
  const money = fieldOf('escrows', 'purchasePriceCents');
  const date = fieldOf('escrows', 'closingDate');
  const title = fieldOf('escrows', 'propertyAddress');

  it('shows cents as currency and dates in the locale', () => {
    expect(formatCents(123_456_78)).toBe(new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' }).format(123_456.78));
    expect(formatValue(money, 50)).toContain('0.50');
    expect(formatValue(money, null)).toBe('');
    expect(formatValue(date, '2027-03-01T17:00:00.000Z')).toBe(
      new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date('2027-03-01T17:00:00.000Z')),
    );
    expect(formatValue(fieldOf('escrows', 'status'), 'in_escrow')).toBe('In escrow');
  });

  it('takes dollars and local date-times from inputs and gives the wire values back', () => {
    expect(fromInputValue(money, '450,000.50')).toEqual({ value: 450_000_50 });
    expect(fromInputValue(money, '$1,000')).toEqual({ value: 1_000_00 });
    expect(fromInputValue(money, '0.1')).toEqual({ value: 10 });
    expect(fromInputValue(money, 'lots')).toHaveProperty('error');
    expect(fromInputValue(money, '-3')).toHaveProperty('error');
    expect(fromInputValue(money, '  ')).toEqual({ value: null });
    expect(toInputValue(money, 450_000_50)).toBe('450000.50');
    expect(toInputValue(money, null)).toBe('');

    const local = toInputValue(date, '2027-03-01T17:30:00.000Z');
    expect(local).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d$/);
    expect(fromInputValue(date, local)).toEqual({ value: '2027-03-01T17:30:00.000Z' });
    expect(fromInputValue(date, 'soon')).toHaveProperty('error');

    expect(fromInputValue(title, '  Main St ')).toEqual({ value: 'Main St' });
    expect(fromInputValue(title, '')).toEqual({ value: '' });
    expect(fromInputValue(fieldOf('listings', 'beds'), '3')).toEqual({ value: 3 });
    expect(fromInputValue(fieldOf('listings', 'beds'), 'x')).toHaveProperty('error');
  });
});

describe('the connection indicator', () => {
  it('says live, polling, reconnecting with the attempt, or offline', () => {
    expect(describeConnection({ state: 'open', attempt: 0 })).toMatchObject({ tone: 'live', label: 'Live' });
    expect(describeConnection({ state: 'fallback-polling', attempt: 4 })).toMatchObject({ tone: 'polling', label: 'Live via polling' });
    expect(describeConnection({ state: 'reconnecting', attempt: 3 })).toMatchObject({ tone: 'reconnecting', label: 'Reconnecting (attempt 3)' });
    expect(describeConnection({ state: 'offline', attempt: 7 })).toMatchObject({ tone: 'offline', label: 'Offline' });
    expect(describeConnection({ state: 'connecting', attempt: 0 }).tone).toBe('idle');
    expect(describeConnection({ state: 'closed', attempt: 0 }).tone).toBe('idle');
  });
});

describe('routes', () => {
  it('maps paths to pages', () => {
    expect(parseRoute('/escrows')).toEqual({ page: 'list', module: 'escrows' });
    expect(parseRoute('/jobs/new')).toEqual({ page: 'new', module: 'jobs' });
    expect(parseRoute('/leads/abc%20d')).toEqual({ page: 'detail', module: 'leads', id: 'abc d' });
    expect(parseRoute('/signin')).toEqual({ page: 'signin' });
    expect(parseRoute('/team')).toEqual({ page: 'team' });
    expect(parseRoute('/account')).toEqual({ page: 'account' });
    expect(parseRoute('/invite/abc_DEF-123')).toEqual({ page: 'invite', token: 'abc_DEF-123' });
    expect(parseRoute('/invite')).toBeNull();
    expect(parseRoute('/')).toBeNull();
    expect(parseRoute('/users')).toBeNull();
    expect(parseRoute('/jobs/1/extra')).toBeNull();
  });
});
