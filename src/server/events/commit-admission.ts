import { serviceUnavailable } from '../errors.ts';

export interface AdmissionLimits {
  /** Commits admitted and not yet durable, across every org on this node: the most the limit grows to. */
  maxWaiting: number;
  /** The same, for one org: one busy org cannot take every place. */
  maxWaitingPerOrg: number;
  /** How long a commit may take from admission to durable before the limit shrinks (see `CommitAdmission`). */
  targetLatencyMs: number;
}

/** The limits for `MAX_COMMITS_WAITING` (default 256; one org may hold a quarter of the places) and `MAX_COMMIT_LATENCY_MS` (default 250). */
export function commitLimits(maxWaiting = 256, targetLatencyMs = 250): AdmissionLimits {
  return { maxWaiting, maxWaitingPerOrg: Math.max(1, Math.ceil(maxWaiting / 4)), targetLatencyMs };
}

/** The fewest commits the limit shrinks to: enough to fill a group commit and keep the database busy. */
const MIN_LIMIT = 16;

/**
 * Admission control for `commitChange`: a bound on commits waiting on this node (queued
 * behind their org's earlier commits or in a group commit, not yet durable). Past it a
 * change is refused at once with SERVICE_UNAVAILABLE and `retryAfterMs`, before it
 * holds anything, so an overload sheds instead of swelling the queue, the memory and
 * every caller's latency; the client link retries with the same idempotency key (see
 * src/client/link/request.ts), so nothing is lost or applied twice.
 *
 * The bound adapts to how fast commits become durable (as TCP's window does): a commit
 * that took longer than `targetLatencyMs` shrinks it by a quarter (once per target
 * period), one that took less than half of it lets it grow by one, up to `maxWaiting`.
 * So whatever the database's speed, an admitted change waits about the target at most,
 * and a burst the database can absorb is never refused.
 *
 * A waiting commit holds its validated input and the promises of its caller: with
 * inputs capped by their schemas (a few KB), `maxWaiting` keeps this queue to a few MB.
 */
export class CommitAdmission {
  #waiting = 0;
  readonly #byOrg = new Map<string, number>();
  #limit: number;
  #shrunkAt = 0;
  /** How long admitted commits took to become durable, smoothed (ms): the retry hint. */
  #latencyMs = 0;
  /** This second's refusals and finished commits, for the retry hint. */
  #window: Window = { startedAt: 0, shed: 0, done: 0 };
  /** How long refused callers' retries are spread over now (ms; see `#retryAfterMs`). */
  #spreadMs = 0;
  /** Refusals so far (read by the metrics). */
  shed = 0;

  constructor(readonly limits: AdmissionLimits = commitLimits()) {
    this.#limit = limits.maxWaiting;
  }

  get waiting(): number {
    return this.#waiting;
  }

  /** Commits that may wait now (between `MIN_LIMIT` and `maxWaiting`). */
  get limit(): number {
    return this.#limit;
  }

  /**
   * When every place is taken: how long a refused caller should wait (`retryAfterMs`);
   * else undefined. Cheap, for a door to refuse a change before it does any work for it.
   */
  full(): number | undefined {
    if (this.#waiting < this.#limit) return undefined;
    this.shed += 1;
    return this.#retryAfterMs();
  }

  /** Admits one commit of `orgId` and returns its release (call it once when it is finished), or throws SERVICE_UNAVAILABLE. */
  admit(orgId: string): () => void {
    const ofOrg = this.#byOrg.get(orgId) ?? 0;
    if (this.#waiting >= this.#limit || ofOrg >= this.limits.maxWaitingPerOrg) {
      this.shed += 1;
      throw serviceUnavailable('commits waiting', this.#retryAfterMs());
    }
    this.#waiting += 1;
    this.#byOrg.set(orgId, ofOrg + 1);
    const admittedAt = performance.now();
    return () => {
      this.#waiting -= 1;
      const left = (this.#byOrg.get(orgId) ?? 1) - 1;
      if (left === 0) this.#byOrg.delete(orgId);
      else this.#byOrg.set(orgId, left);
      const now = performance.now();
      this.#adapt(now - admittedAt, now);
    };
  }

  /**
   * At least what the commits ahead take now; and when more callers are being refused than
   * commits finish, long enough to spread their retries so that about as many come back
   * each second as commits finish. Callers come back after a hint's time, and the refusals
   * seen are the backlog divided by that time: so each second the spread is scaled by
   * refusals ÷ commits of the second before (starting from one second), growing while the
   * backlog outruns the node and shrinking once it does not.
   */
  #retryAfterMs(): number {
    const now = performance.now();
    const { startedAt, shed, done } = this.#window;
    if (now - startedAt >= 1_000) {
      // After a quiet spell there is no backlog to go by.
      const quiet = now - startedAt >= 2_000;
      this.#window = { startedAt: now, shed: 0, done: 0 };
      this.#spreadMs = quiet ? 0 : Math.min(30_000, (this.#spreadMs || 1_000) * (shed / Math.max(1, done)));
    }
    this.#window.shed += 1;
    return Math.round(Math.min(30_000, Math.max(50, this.#latencyMs, this.#spreadMs)));
  }

  #adapt(latencyMs: number, now: number): void {
    this.#window.done += 1;
    this.#latencyMs += (latencyMs - this.#latencyMs) / 8;
    const target = this.limits.targetLatencyMs;
    if (latencyMs > target) {
      if (now - this.#shrunkAt < target) return;
      this.#shrunkAt = now;
      this.#limit = Math.max(Math.min(MIN_LIMIT, this.limits.maxWaiting), Math.floor(this.#limit * 0.75));
    } else if (latencyMs < target / 2 && this.#limit < this.limits.maxWaiting) {
      this.#limit += 1;
    }
  }
}

/** Refusals and finished commits over one second. */
interface Window {
  startedAt: number;
  shed: number;
  done: number;
}
