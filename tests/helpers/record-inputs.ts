import type { ModuleName } from '../../src/shared/modules.ts';

/** A valid create input and patch for each module. */
export const validInputs: Record<ModuleName, { create: Record<string, unknown>; patch: Record<string, unknown> }> = {
  jobs: { create: { title: 'Fix boiler', estimatedHours: 2.5, scheduledAt: '2026-12-01T09:00:00+01:00' }, patch: { status: 'scheduled' } },
  escrows: { create: { propertyAddress: '1 Main St', purchasePriceCents: 450_000_00 }, patch: { purchasePriceCents: 5_000_000_000_00 } },
  listings: { create: { address: '2 Oak Ave', beds: 3, baths: 2.5 }, patch: { status: 'active', listPriceCents: 699_000_00 } },
  clients: { create: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com' }, patch: { phone: '+1 555 123 4567' } },
  leads: { create: { name: 'Grace Hopper', source: 'Referral' }, patch: { score: 80 } },
  appointments: {
    create: { title: 'Showing', startsAt: '2026-12-02T10:00:00Z', endsAt: '2026-12-02T11:00:00Z' },
    patch: { location: 'On site' },
  },
};
