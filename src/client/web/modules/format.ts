import type { FieldSpec } from './fields.ts';
import { enumLabel } from './ui.ts';

const money = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** Integer cents → "$1,234.56" in the user's locale. */
export function formatCents(cents: number): string {
  return money.format(cents / 100);
}

/** An ISO string → the user's local date and time. */
export function formatDateTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date);
}

/** A field's value as text for people; '' for empty. Reference ids are shown by the caller. */
export function formatValue(spec: FieldSpec, value: unknown): string {
  if (value === null || value === undefined || value === '') return '';
  switch (spec.kind) {
    case 'money':
      return typeof value === 'number' ? formatCents(value) : String(value);
    case 'datetime':
      return formatDateTime(String(value));
    case 'enum':
      return enumLabel(String(value));
    case 'number':
      return typeof value === 'number' ? number.format(value) : String(value);
    default:
      return String(value);
  }
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The wire value → what an <input> holds: dollars for money, local "YYYY-MM-DDTHH:mm" for dates. */
export function toInputValue(spec: FieldSpec, value: unknown): string {
  if (value === null || value === undefined) return '';
  if (spec.kind === 'money') return typeof value === 'number' ? (value / 100).toFixed(2) : '';
  if (spec.kind === 'datetime') {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) return '';
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }
  return String(value);
}

/**
 * What an <input> holds → the wire value: cents for money, ISO strings for dates, numbers
 * for numbers, null for an empty optional field. Returns `{ error }` for text that is not a value.
 */
export function fromInputValue(spec: FieldSpec, text: string): { value: unknown } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === '') return spec.nullable ? { value: null } : spec.kind === 'enum' ? { error: 'Choose a value' } : { value: '' };
  switch (spec.kind) {
    case 'money': {
      const dollars = Number(trimmed.replace(/[$,\s]/g, ''));
      if (!Number.isFinite(dollars) || dollars < 0) return { error: 'Enter an amount in dollars, e.g. 450000 or 450,000.50' };
      return { value: Math.round(dollars * 100) };
    }
    case 'number': {
      const value = Number(trimmed);
      return Number.isFinite(value) ? { value } : { error: 'Enter a number' };
    }
    case 'datetime': {
      const date = new Date(trimmed);
      return Number.isNaN(date.getTime()) ? { error: 'Enter a date and time' } : { value: date.toISOString() };
    }
    default:
      return { value: trimmed };
  }
}
