import { runsOneTransactionAtATime, statementBatchesOf, type Db, type Statement, type StatementBatches } from '../db/client.ts';

/**
 * Group commit: one-statement changes that arrive together, from any orgs, are
 * committed together, as one transaction in one trip (one WAL flush), and each is
 * answered only once that transaction is durable. Each change keeps its own statement,
 * event and `seq`; their order is the order they arrived in. On PGlite a statement's
 * trip into the engine costs about as much as the statement, and on a PostgreSQL server
 * a commit took four round trips; a batch takes one.
 *
 * A batch forms from what arrives together: a change that finds a batch slot free
 * waits for the rest of this turn of the event loop (what arrives in it goes along; on
 * PGlite, whose statements run within the turn, nothing else could join), one that
 * finds every slot busy joins the next batch, which starts as soon as a slot frees.
 * A change that already waited behind its org's previous commit (commit.ts) does not
 * wait for the turn: under a fan-out that keeps the event loop's turns long, that wait
 * capped each org at one commit per turn, and the p99 at 75,000 deliveries/s in the
 * 10 × 100 layout went from 40 to 400-560 ms.
 *
 * A failing change fails alone: when a batch fails, nothing of it was applied, and its
 * changes are run again one by one, each answered with its own outcome.
 *
 * Callers keep one org's changes one after another (commit.ts queues them), so two
 * batches running at once never hold the same org; on a PostgreSQL server each batch
 * first takes its orgs' log locks, in one order, so that each `prevSeq` it reads is final.
 */
export class GroupCommit {
  readonly #batches: StatementBatches;
  readonly #lockOrgs: boolean;
  readonly #maxBatch: number;
  readonly #queue: Job[] = [];
  #running = 0;
  #waitingForTurn = false;
  /** Transactions run and the changes in them (a failed batch's changes count again when run alone), for the metrics. */
  readonly stats = { batches: 0, changes: 0 };

  constructor(db: Db, options: { maxBatch?: number } = {}) {
    this.#batches = statementBatchesOf(db);
    this.#lockOrgs = !runsOneTransactionAtATime(db);
    this.#maxBatch = options.maxBatch ?? MAX_BATCH;
  }

  /**
   * Commits `statement` (a change of `orgId`) in the next batch; its rows once the batch
   * is durable. `atOnce`: start a batch now if a slot is free, without waiting for what
   * else arrives in this turn (for a change that has waited already).
   */
  commit(orgId: string, statement: Statement, { atOnce = false }: { atOnce?: boolean } = {}): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ orgId, statement, resolve, reject });
      if (atOnce) return this.#startBatches();
      if (this.#waitingForTurn || this.#running >= this.#batches.parallel) return;
      // What else arrives in this turn of the event loop goes with it.
      this.#waitingForTurn = true;
      setImmediate(() => {
        this.#waitingForTurn = false;
        this.#startBatches();
      });
    });
  }

  #startBatches(): void {
    while (this.#running < this.#batches.parallel && this.#queue.length > 0) void this.#run(this.#queue.splice(0, this.#maxBatch));
  }

  async #run(jobs: Job[]): Promise<void> {
    this.#running += 1;
    try {
      const rows = await this.#commit(jobs).catch(() => undefined);
      if (rows) {
        for (const [i, job] of jobs.entries()) job.resolve(rows[i]!);
        return;
      }
      // Nothing of the batch was applied: each change alone, with its own outcome.
      for (const job of jobs) await this.#commit([job]).then((one) => job.resolve(one[0]!), job.reject);
    } finally {
      this.#running -= 1;
      // What queued while it ran goes at once: it has waited a batch already.
      this.#startBatches();
    }
  }

  /** The jobs' statements in one transaction (after their orgs' locks where transactions overlap): each one's rows. */
  async #commit(jobs: readonly Job[]): Promise<unknown[][]> {
    this.stats.batches += 1;
    this.stats.changes += jobs.length;
    const statements = jobs.map((job) => job.statement);
    if (!this.#lockOrgs) return this.#batches.run(statements);
    const orgs = [...new Set(jobs.map((job) => job.orgId))];
    return (await this.#batches.run([{ sql: LOCK_ORGS, values: [orgs] }, ...statements])).slice(1);
  }
}

interface Job {
  orgId: string;
  statement: Statement;
  resolve(rows: unknown[]): void;
  reject(error: unknown): void;
}

/** The most changes in one batch: bounds one trip's size and the wait of the first change in it. */
const MAX_BATCH = 64;

/** The org log locks of `LOCK_ORG_LOG` (log.ts) for several orgs, in one order whoever takes them. */
const LOCK_ORGS = `SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(org) AS h FROM unnest($1::text[]) AS org ORDER BY h) AS locks`;

const byDb = new WeakMap<Db, GroupCommit>();

/** The database's group commit, made on first use. */
export function groupCommitOf(db: Db): GroupCommit {
  let group = byDb.get(db);
  if (!group) byDb.set(db, (group = new GroupCommit(db)));
  return group;
}

/** Replaces the database's group commit (e.g. `maxBatch: 1`: every change alone, to compare). */
export function configureGroupCommit(db: Db, options: { maxBatch?: number }): void {
  byDb.set(db, new GroupCommit(db, options));
}
