import { serviceUnavailable } from '../errors.ts';

export interface AdmissionLimits {
  /** Commits admitted and not yet finished, across every org on this node. */
  maxWaiting: number;
  /** The same, for one org: one busy org cannot take every place. */
  maxWaitingPerOrg: number;
}

/** The limits for `MAX_COMMITS_WAITING` (default 256): one org may hold a quarter of the places. */
export function commitLimits(maxWaiting = 256): AdmissionLimits {
  return { maxWaiting, maxWaitingPerOrg: Math.max(1, Math.ceil(maxWaiting / 4)) };
}

/**
 * Admission control for `commitChange`: a bound on commits waiting on this node (queued
 * behind their org's earlier commits or in a group commit, not yet durable). Past it a
 * change is refused at once with SERVICE_UNAVAILABLE and `retryAfterMs`, before it
 * holds anything, so an overload sheds instead of swelling the queue, the memory and
 * every caller's latency; the client link retries with the same idempotency key (see
 * src/client/link/request.ts), so nothing is lost or applied twice.
 *
 * A waiting commit holds its validated input and the promises of its caller: with
 * inputs capped by their schemas (a few KB), the bound keeps this queue to a few MB.
 */
export class CommitAdmission {
  #waiting = 0;
  readonly #byOrg = new Map<string, number>();
  /** How long an admitted commit took from admission to durable, smoothed (ms). */
  #latencyMs = 1;
  /** Refusals so far (read by the metrics). */
  shed = 0;

  constructor(readonly limits: AdmissionLimits = commitLimits()) {}

  get waiting(): number {
    return this.#waiting;
  }

  /** Admits one commit of `orgId` and returns its release (call it once when it is finished), or throws SERVICE_UNAVAILABLE. */
  admit(orgId: string): () => void {
    const ofOrg = this.#byOrg.get(orgId) ?? 0;
    if (this.#waiting >= this.limits.maxWaiting || ofOrg >= this.limits.maxWaitingPerOrg) {
      this.shed += 1;
      // About when a place frees up: the time the commits ahead of it are taking now.
      throw serviceUnavailable('commits waiting', Math.min(5_000, Math.max(20, Math.round(this.#latencyMs))));
    }
    this.#waiting += 1;
    this.#byOrg.set(orgId, ofOrg + 1);
    const admittedAt = performance.now();
    return () => {
      this.#waiting -= 1;
      const left = (this.#byOrg.get(orgId) ?? 1) - 1;
      if (left === 0) this.#byOrg.delete(orgId);
      else this.#byOrg.set(orgId, left);
      this.#latencyMs += (performance.now() - admittedAt - this.#latencyMs) / 8;
    };
  }
}
