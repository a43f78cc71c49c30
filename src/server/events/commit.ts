import type { EventBus } from '../bus/types.ts';
import type { Db, Tx } from '../db/client.ts';
import type { Metrics } from '../metrics.ts';
import type { CommitAdmission } from './commit-admission.ts';
import { commitInOneStatement, type OneStatement } from './commit-statement.ts';
import { commitInTransaction, type ChangeOutcome } from './commit-transaction.ts';
import { effectsMayFollow, effectsMayFollowFrom } from './effects.ts';
import type { IdempotencyOptions } from './idempotency.ts';
import type { SequencedEvent } from './log.ts';

export type { ChangeOutcome } from './commit-transaction.ts';

/**
 * How a change is written. `auto` (the default): as one statement when the caller gave
 * that form and no registered effect could follow it, else in a transaction.
 * `one-statement`: as one statement whenever the caller gave that form, even where an
 * effect could follow (which it then does not run): for tests that compare the
 * strategies (tandem_commits_total says which one wrote). `general`: always in a transaction. Either way, a statement
 * that writes nothing (the record moved on, was not found, or would not change) leaves
 * the change to the transaction, which merges, conflicts or refuses.
 */
export type CommitStrategy = 'auto' | 'one-statement' | 'general';

export interface CommitOptions {
  idempotency?: IdempotencyOptions | undefined;
  /** The same change as one statement, when it can be one (a record change with nothing else to check or write). */
  statement?: OneStatement | undefined;
  strategy?: CommitStrategy | undefined;
}

export interface CommitDeps {
  db: Db;
  bus: EventBus;
  metrics?: Metrics;
  /** The bound on commits waiting; none when absent. */
  admission?: CommitAdmission;
}

/** Runs one org's commits one after another in this process; see `commitChange`. */
const orgQueues = new Map<string, Promise<unknown>>();

/**
 * Runs `task` after the org's commits queued before it in this process (see
 * `commitChange`); `task` is told whether it waited for one.
 */
function runInOrgQueue<T>(orgId: string, task: (waited: boolean) => Promise<T>): Promise<T> {
  const waiting = orgQueues.get(orgId);
  const previous = waiting ?? Promise.resolve();
  const run = () => task(waiting !== undefined);
  const next = previous.then(run, run);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  orgQueues.set(orgId, settled);
  void settled.then(() => {
    if (orgQueues.get(orgId) === settled) orgQueues.delete(orgId);
  });
  return next;
}

/**
 * The only way records change: the change and its event row committed together, then,
 * after the commit, the event on the bus. An event exists if and only if the change
 * committed, and nothing uncommitted is ever published. `change` is the general form
 * (any change, in a transaction: commit-transaction.ts); a record change may also give
 * itself as one statement (`options.statement`: commit-statement.ts), which writes the
 * same record, event and idempotency key.
 *
 * One org's commits are queued in this process so that its events reach the bus in
 * `seq` order; subscribers rely on that to skip what they already replayed. With
 * `deps.admission`, a change past the bound on commits waiting is refused at once
 * (SERVICE_UNAVAILABLE with `retryAfterMs`: commit-admission.ts).
 */
export function commitChange<T>(deps: CommitDeps, orgId: string, change: (tx: Tx) => Promise<ChangeOutcome<T>>, options: CommitOptions = {}): Promise<T> {
  let release: (() => void) | undefined;
  try {
    release = deps.admission?.admit(orgId);
  } catch (refused) {
    return Promise.reject(refused);
  }
  const committed = commitInOrder(deps, orgId, change, options);
  if (release) void committed.then(release, release);
  return committed;
}

function commitInOrder<T>(deps: CommitDeps, orgId: string, change: (tx: Tx) => Promise<ChangeOutcome<T>>, options: CommitOptions): Promise<T> {
  const statement = chooseStatement(options);
  return runInOrgQueue(orgId, async (waited) => {
    // One that waited behind its org's previous commit has waited a batch already: it goes at once.
    const written = statement && (await commitInOneStatement<T>(deps.db, orgId, statement, options.idempotency, { atOnce: waited }));
    const { result, events } = written ?? (await commitInTransaction(deps.db, orgId, change, options.idempotency));
    if (deps.metrics) deps.metrics.committedBy[written ? 'one-statement' : 'general'] += 1;
    publishCommitted(deps, events);
    return result;
  });
}

function chooseStatement({ statement, strategy = 'auto' }: CommitOptions): OneStatement | undefined {
  if (!statement || strategy === 'general') return undefined;
  if (strategy === 'one-statement') return statement;
  if (effectsMayFollow(statement.module, statement.action, statement.preview)) return undefined;
  const unlessBefore = effectsMayFollowFrom(statement.module, statement.action, statement.preview);
  return unlessBefore ? { ...statement, unlessBefore } : statement;
}

/** After the commit, in the org's queue: the change's events on the bus, in seq order. */
function publishCommitted(deps: { bus: EventBus; metrics?: Metrics }, events: readonly SequencedEvent[]): void {
  for (const event of events) {
    deps.bus.publish(event.event, event.prevSeq);
    deps.metrics?.eventsPublished.inc();
  }
}
