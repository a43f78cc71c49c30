import type { inferRouterInputs } from '@trpc/server';
import type { AppRouter } from '../../server/routers/_app.ts';
import type { LogModule } from '../../shared/events.ts';
import { MODULE_NAMES, type ModuleName } from '../../shared/modules.ts';

type Routers = AppRouter['_def']['record'];
type Inputs = inferRouterInputs<AppRouter>;

/**
 * The paths (`router.procedure`) of the router's procedures of one type, derived from
 * `AppRouter`: a path written here that the server renames or removes fails the type check.
 */
type PathOf<Type extends string> = {
  [R in keyof Routers & keyof Inputs & string]: {
    [P in keyof Routers[R] & keyof Inputs[R] & string]: Routers[R][P] extends { _def: { type: Type } } ? `${R}.${P}` : never;
  }[keyof Routers[R] & keyof Inputs[R] & string];
}[keyof Routers & keyof Inputs & string];

export type SubscriptionPath = PathOf<'subscription'>;
export type QueryPath = PathOf<'query'>;

/** The input of the procedure at `path`. */
type InputOf<Path extends string> = Path extends `${infer R}.${infer P}` ? (R extends keyof Inputs ? (P extends keyof Inputs[R] ? Inputs[R][P] : never) : never) : never;

export interface LogFilter {
  modules?: LogModule[];
  recordId?: string;
  /**
   * Read over HTTP from this query instead of `events.since` (same input and answer
   * shape: `{ events, resync }`), each item's tracked id given by `trackedIdOf`.
   */
  poll?: { path: QueryPath; trackedIdOf: (item: unknown) => string };
}

/** What part of the log a subscription reads, from its input. */
type FilterOf<Path extends SubscriptionPath> = (input: InputOf<Path>) => LogFilter;

const eventSeqOf = (item: unknown) => String(typeof item === 'object' && item !== null && 'eventSeq' in item ? item.eventSeq : '');

/** Subscriptions of the communications streams, by path: what part of the log each reads. */
const COMMS_SUBSCRIPTIONS: { [Path in SubscriptionPath]?: FilterOf<Path> } = {
  'conversations.onChange': () => ({ modules: ['conversations'] }),
  'messages.onConversation': (input) => ({ modules: ['conversations'], recordId: input.conversationId }),
  'calls.onChange': () => ({ modules: ['calls'] }),
  'alerts.onNew': () => ({ modules: ['alerts'] }),
  // Notifications are the caller's own: the server reads them for polling, tracked by the event that raised them.
  'notifications.onNew': () => ({ poll: { path: 'notifications.since', trackedIdOf: eventSeqOf } }),
};

/** Every record module's `onChange`. */
const RECORD_SUBSCRIPTIONS = new Map<string, ModuleName>(MODULE_NAMES.map((module) => [`${module}.onChange` satisfies SubscriptionPath, module]));

/**
 * A subscription's input as its typed caller sent it (the link carries it as `unknown`;
 * the server checks it against the same schema), `{}` when there is none.
 */
function inputOf<Path extends SubscriptionPath>(_path: Path, input: unknown): NonNullable<InputOf<Path>> {
  return (input ?? {}) as NonNullable<InputOf<Path>>;
}

const isCommsPath = (path: string): path is SubscriptionPath => Object.hasOwn(COMMS_SUBSCRIPTIONS, path);

function commsFilter<Path extends SubscriptionPath>(path: Path, input: unknown): LogFilter | null {
  const filterOf = COMMS_SUBSCRIPTIONS[path];
  return filterOf ? filterOf(inputOf(path, input)) : null;
}

/** Which part of the event log a subscription reads, so polling can serve it; null when it is not a log subscription. */
export function logFilterOf(path: string, input: unknown): LogFilter | null {
  if (path === 'events.onAny') {
    const { modules } = inputOf(path, input);
    return modules ? { modules } : {};
  }
  if (isCommsPath(path)) return commsFilter(path, input);
  const module = RECORD_SUBSCRIPTIONS.get(path);
  if (!module) return null;
  const { id } = inputOf(`${module}.onChange`, input);
  return { modules: [module], ...(id ? { recordId: id } : {}) };
}
