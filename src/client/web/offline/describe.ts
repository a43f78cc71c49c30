import { capitalized, fieldLabel, moduleUi } from '../modules/ui.ts';
import type { PendingChange } from './store.ts';

/** How a kept change is named in lists: "New job: Fix boiler", "Delete lead: Ann", "Job: Notes". */
export function describeChange(change: PendingChange): string {
  const ui = moduleUi[change.module];
  switch (change.kind) {
    case 'create':
      return `New ${ui.singular}: ${ui.title(change.values) || '(untitled)'}`;
    case 'delete':
      return `Delete ${ui.singular}: ${change.title || '(untitled)'}`;
    case 'edit':
      return `${capitalized(ui.singular)}: ${fieldLabel(change.module, change.field)}`;
  }
}

/** Where a kept change is shown: its record, or for a record not yet created, its module's list (a pending row). */
export function hrefOf(change: PendingChange): string {
  return change.kind === 'create' ? `/${change.module}` : `/${change.module}/${change.recordId}`;
}
