import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of one server, on a registry of its own (tests run several
 * servers in one process). Served at GET /metrics.
 */
export function createMetrics() {
  const registry = new Registry();
  const deliveredBy = { direct: 0, iterator: 0 };
  const committedBy = { 'one-statement': 0, general: 0 };
  /** Where the commit queue's figures are read from, once the app has made it (`observeCommits`). */
  let commitQueue: CommitQueueFigures | undefined;
  /** Totals as last read, so the counters add what is new. */
  const seen = { shed: 0, batches: 0, grouped: 0 };
  const addNew = (counter: Counter, key: keyof typeof seen, now: number | undefined) => {
    if (now === undefined || now === seen[key]) return;
    counter.inc(now - seen[key]);
    seen[key] = now;
  };
  // The process's own health beside ours: heap, active handles, event loop lag, GC (what a leak or a stall shows in first).
  collectDefaultMetrics({ register: registry });
  const metrics = {
    registry,
    connections: new Gauge({ name: 'tandem_ws_connections', help: 'Open WebSocket connections', registers: [registry] }),
    maxOutboundBuffer: new Gauge({
      name: 'tandem_ws_outbound_buffer_max_bytes',
      help: 'The largest outbound buffer of any WebSocket connection',
      registers: [registry],
    }),
    subscriptions: new Gauge({ name: 'tandem_subscriptions', help: 'Live subscriptions (bus listeners)', registers: [registry] }),
    eventsPublished: new Counter({ name: 'tandem_events_published_total', help: 'Committed events published to the bus', registers: [registry] }),
    commits: new Counter({
      name: 'tandem_commits_total',
      help: 'Changes committed, by the strategy that wrote them: one statement, or a transaction (events/commit.ts)',
      labelNames: ['strategy'] as const,
      registers: [registry],
      // Counted per commit as plain numbers (`committedBy`), added up when read.
      collect() {
        for (const strategy of ['one-statement', 'general'] as const) {
          if (committedBy[strategy] === 0) continue;
          this.labels(strategy).inc(committedBy[strategy]);
          committedBy[strategy] = 0;
        }
      },
    }),
    commitsWaiting: new Gauge({
      name: 'tandem_commits_waiting',
      help: 'Commits admitted and not yet durable (events/commit-admission.ts)',
      registers: [registry],
      collect() {
        this.set(commitQueue?.waiting() ?? 0);
      },
    }),
    commitsShed: new Counter({
      name: 'tandem_commits_shed_total',
      help: 'Changes refused with SERVICE_UNAVAILABLE because too many commits were waiting',
      registers: [registry],
      collect() {
        addNew(this, 'shed', commitQueue?.shed());
      },
    }),
    groupCommitBatches: new Counter({
      name: 'tandem_group_commit_batches_total',
      help: 'Group commits (events/group-commit.ts); tandem_group_commit_changes_total / this is the mean batch',
      registers: [registry],
      collect() {
        addNew(this, 'batches', commitQueue?.grouped().batches);
      },
    }),
    groupCommitChanges: new Counter({
      name: 'tandem_group_commit_changes_total',
      help: 'Changes committed in group commits',
      registers: [registry],
      collect() {
        addNew(this, 'grouped', commitQueue?.grouped().changes);
      },
    }),
    eventsDelivered: new Counter({
      name: 'tandem_events_delivered_total',
      help: 'Live events handed to subscriptions: written straight to the socket (direct) or yielded through the subscription (iterator)',
      labelNames: ['path'] as const,
      registers: [registry],
      // Counted per subscriber per event as plain numbers (`deliveredBy`), added up when read.
      collect() {
        for (const path of ['direct', 'iterator'] as const) {
          if (deliveredBy[path] === 0) continue;
          this.labels(path).inc(deliveredBy[path]);
          deliveredBy[path] = 0;
        }
      },
    }),
    resyncs: new Counter({ name: 'tandem_resyncs_total', help: 'RESYNC signals sent', labelNames: ['reason'] as const, registers: [registry] }),
    rateLimited: new Counter({ name: 'tandem_rate_limited_total', help: 'Calls refused by a limit', labelNames: ['limit'] as const, registers: [registry] }),
    carrierSends: new Counter({
      name: 'tandem_carrier_sends_total',
      help: 'Messages handed to a carrier by the outbox (attempt: first or retry)',
      labelNames: ['carrier', 'attempt'] as const,
      registers: [registry],
    }),
    carrierOutcomes: new Counter({
      name: 'tandem_carrier_send_outcomes_total',
      help: 'What came of the outbox attempts: sent, rejected, retryable, unknown',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    slowConsumersDropped: new Counter({
      name: 'tandem_slow_consumers_dropped_total',
      help: 'Subscriptions whose pending events were dropped for a resync, or connections closed, because the client read too slowly',
      labelNames: ['action'] as const,
      registers: [registry],
    }),
    authFailures: new Counter({ name: 'tandem_auth_failures_total', help: 'Refused tokens and sign-ins', labelNames: ['door'] as const, registers: [registry] }),
    mutationSeconds: new Histogram({
      name: 'tandem_mutation_duration_seconds',
      help: 'Mutation time from call to result',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    deliverySeconds: new Histogram({
      name: 'tandem_delivery_latency_seconds',
      help: 'From an event committing to its first hand-off to a subscription on this node',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
  };
  return {
    ...metrics,
    /** Deliveries not yet added to `eventsDelivered`: the hot path adds one to a number, prom-client's bookkeeping runs per scrape. */
    deliveredBy,
    /** Commits not yet added to `commits`, by strategy (the same arrangement as `deliveredBy`). */
    committedBy,
    /** Where the commit queue's gauges and counters read from (read per scrape). */
    observeCommits(figures: CommitQueueFigures) {
      commitQueue = figures;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The commit queue's figures, as the metrics read them. */
export interface CommitQueueFigures {
  waiting(): number;
  shed(): number;
  grouped(): { batches: number; changes: number };
}
