import { MODULE_NAMES, type ModuleName } from '../../shared/modules.ts';

export interface LogFilter {
  modules?: ModuleName[];
  recordId?: string;
}

/** Which part of the event log a subscription reads, so polling can serve it; null when it is not a log subscription. */
export function logFilterOf(path: string, input: unknown): LogFilter | null {
  const value = (input ?? {}) as { modules?: ModuleName[]; id?: string };
  if (path === 'events.onAny') return value.modules ? { modules: value.modules } : {};
  const [module, procedure] = path.split('.');
  if (procedure === 'onChange' && MODULE_NAMES.includes(module as ModuleName)) {
    return { modules: [module as ModuleName], ...(value.id ? { recordId: value.id } : {}) };
  }
  return null;
}
