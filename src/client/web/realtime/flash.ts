import { useSyncExternalStore } from 'react';

/**
 * Records and fields that someone else just changed, so the UI can flash them. Entries
 * expire by themselves; the flash is a background colour only, so nothing moves.
 */
export const FLASH_MS = 1_600;

const active = new Map<string, number>();
const listeners = new Set<() => void>();
let serial = 0;

const keyOf = (module: string, id: string, field?: string) => (field ? `${module}:${id}:${field}` : `${module}:${id}`);

function emit() {
  for (const listener of [...listeners]) listener();
}

/** Flashes the record and each given field for FLASH_MS. */
export function flash(module: string, id: string, fields: readonly string[] = []) {
  const stamp = ++serial;
  const keys = [keyOf(module, id), ...fields.map((field) => keyOf(module, id, field))];
  for (const key of keys) active.set(key, stamp);
  emit();
  setTimeout(() => {
    let changed = false;
    for (const key of keys) {
      if (active.get(key) === stamp) {
        active.delete(key);
        changed = true;
      }
    }
    if (changed) emit();
  }, FLASH_MS);
}

function subscribe(listener: () => void) {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/** A number that changes with each new flash of this record (or field) while it lasts, else 0. */
export function useFlash(module: string, id: string, field?: string): number {
  const key = keyOf(module, id, field);
  return useSyncExternalStore(
    subscribe,
    () => active.get(key) ?? 0,
    () => 0,
  );
}
