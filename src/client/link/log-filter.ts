import type { LogModule } from '../../shared/events.ts';
import { MODULE_NAMES, type ModuleName } from '../../shared/modules.ts';

export interface LogFilter {
  modules?: LogModule[];
  recordId?: string;
  /**
   * Read over HTTP from this query instead of `events.since` (same input and answer
   * shape: `{ events, resync }`), each item's tracked id given by `trackedIdOf`.
   */
  poll?: { path: string; trackedIdOf: (item: unknown) => string };
}

/** Subscriptions of the communications streams, by path: what part of the log each reads. */
const COMMS_SUBSCRIPTIONS: Record<string, (input: Record<string, unknown>) => LogFilter> = {
  'conversations.onChange': () => ({ modules: ['conversations'] }),
  'messages.onConversation': (input) => ({ modules: ['conversations'], recordId: String(input.conversationId) }),
  'calls.onChange': () => ({ modules: ['calls'] }),
  'alerts.onNew': () => ({ modules: ['alerts'] }),
  // Notifications are the caller's own: the server reads them for polling, tracked by the event that raised them.
  'notifications.onNew': () => ({ poll: { path: 'notifications.since', trackedIdOf: (item) => String((item as { eventSeq: number }).eventSeq) } }),
};

/** Which part of the event log a subscription reads, so polling can serve it; null when it is not a log subscription. */
export function logFilterOf(path: string, input: unknown): LogFilter | null {
  const value = (input ?? {}) as { modules?: ModuleName[]; id?: string };
  if (path === 'events.onAny') return value.modules ? { modules: value.modules } : {};
  const comms = COMMS_SUBSCRIPTIONS[path];
  if (comms) return comms(value as Record<string, unknown>);
  const [module, procedure] = path.split('.');
  if (procedure === 'onChange' && MODULE_NAMES.includes(module as ModuleName)) {
    return { modules: [module as ModuleName], ...(value.id ? { recordId: value.id } : {}) };
  }
  return null;
}
