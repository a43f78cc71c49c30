import type { ModuleName } from '../../../shared/modules.ts';

/**
 * What the generic list, detail and form pages need to know beyond the module
 * definitions in src/shared/modules.ts: words and which columns a list shows.
 */
export interface ModuleUi {
  /** "escrow", as in "This escrow was deleted". */
  singular: string;
  /** "Escrows", the navigation label and list heading. */
  plural: string;
  /** The field that names a record in headings and links. */
  title: (record: Record<string, unknown>) => string;
  /** The list's columns after the title, in order. */
  columns: string[];
  /** Labels of fields whose name does not read well by itself. */
  labels?: Record<string, string>;
}

export const moduleUi: Record<ModuleName, ModuleUi> = {
  jobs: {
    singular: 'job',
    plural: 'Jobs',
    title: (r) => String(r.title ?? ''),
    columns: ['status', 'scheduledAt', 'estimatedHours'],
    labels: { scheduledAt: 'Scheduled', assigneeId: 'Assignee', clientId: 'Client', estimatedHours: 'Estimated hours' },
  },
  escrows: {
    singular: 'escrow',
    plural: 'Escrows',
    title: (r) => String(r.propertyAddress ?? ''),
    columns: ['escrowNumber', 'status', 'purchasePriceCents', 'closingDate'],
    labels: { escrowNumber: 'Escrow #', purchasePriceCents: 'Purchase price', closingDate: 'Closing date', listingId: 'Listing', buyerClientId: 'Buyer' },
  },
  listings: {
    singular: 'listing',
    plural: 'Listings',
    title: (r) => String(r.address ?? ''),
    columns: ['mlsNumber', 'status', 'listPriceCents', 'beds', 'baths'],
    labels: { mlsNumber: 'MLS #', listPriceCents: 'List price', sqft: 'Square feet' },
  },
  clients: {
    singular: 'client',
    plural: 'Clients',
    title: (r) => `${String(r.firstName ?? '')} ${String(r.lastName ?? '')}`.trim(),
    columns: ['kind', 'email', 'phone'],
    labels: { firstName: 'First name', lastName: 'Last name' },
  },
  leads: {
    singular: 'lead',
    plural: 'Leads',
    title: (r) => String(r.name ?? ''),
    columns: ['status', 'source', 'score', 'email'],
    labels: { assigneeId: 'Assignee' },
  },
  appointments: {
    singular: 'appointment',
    plural: 'Appointments',
    title: (r) => String(r.title ?? ''),
    columns: ['status', 'startsAt', 'location'],
    labels: { startsAt: 'Starts', endsAt: 'Ends', clientId: 'Client', reminderMinutes: 'Reminder (minutes before)', assigneeId: 'Assignee' },
  },
};

/** Fields every module has. */
const SHARED_LABELS: Record<string, string> = { teamId: 'Team' };

/** "purchasePriceCents" → "Purchase price cents" unless the module gives a label. */
export function fieldLabel(module: ModuleName, field: string): string {
  const label = moduleUi[module].labels?.[field] ?? SHARED_LABELS[field];
  if (label) return label;
  return capitalized(field.replace(/([A-Z])/g, ' $1').toLowerCase());
}

/** "in_progress" → "In progress". */
export function enumLabel(value: string): string {
  return capitalized(value.replace(/_/g, ' '));
}

/** "you changed" → "You changed". */
export const capitalized = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);
