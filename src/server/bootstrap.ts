import { setAlertAudiences } from './alerts/audience.ts';
import { alertEffect } from './alerts/rules.ts';
import { registerChangeEffect } from './events/effects.ts';
import { notificationEffect } from './notifications/sources.ts';
import { teamNotificationEffect } from './notifications/team.ts';
import { loadEffect, setDefaultWeeklyCapacity } from './teams/load-effect.ts';
import { InProcessSessionChannel, RedisSessionChannel, type SessionChannel } from './auth/session-channel.ts';
import { SessionService } from './auth/sessions.ts';
import { loadTokenSecret, createTokenService, type TokenService } from './auth/tokens.ts';
import { InProcessBus } from './bus/memory.ts';
import { RedisBus } from './bus/redis.ts';
import type { EventBus } from './bus/types.ts';
import { CommitAdmission, commitLimits } from './events/commit-admission.ts';
import { configureGroupCommit, groupCommitOf } from './events/group-commit.ts';
import { loadCredentialBox } from './carriers/credentials.ts';
import { defaultOutboxOptions, Outbox } from './carriers/outbox.ts';
import { Carriers } from './carriers/service.ts';
import { RabbitBridge } from './carriers/rabbitmq.ts';
import { ReplayCache } from './events/replay-cache.ts';
import type { Config } from './config.ts';
import type { AppDeps } from './context.ts';
import { openDatabase, type Database } from './db/client.ts';
import { PrismaPg } from '@prisma/adapter-pg';
import { applyMigrations, withMigrationLock } from './db/migrate.ts';
import { DEMO_LOGINS, DEMO_PASSWORD, seedDemoData } from './db/seed.ts';
import { schedulePruning } from './events/retention.ts';
import { pruneUnsentUploads } from './comms/uploads.ts';
import { createInflightTracker } from './inflight.ts';
import { defaultBackpressure } from './transport/ws-flow.ts';
import { RedisPresenceSync } from './presence/redis.ts';
import { defaultPresenceOptions, PresenceService } from './presence/service.ts';
import { createLimits, defaultLimits } from './limits.ts';
import { RedisLimitStore } from './limits/redis.ts';
import type { Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { startScheduler, type Scheduler } from './scheduler/scheduler.ts';

export interface App {
  deps: AppDeps;
  describeDatabase: string;
  /** Shown at start when the demo data was seeded (or is present). */
  demoLogins: readonly { email: string; role: string; org: string }[];
  demoPassword: string;
  /** Missed calls, reminders, time-based alerts. */
  scheduler: Scheduler;
  close(): Promise<void>;
}

/** Opens the database, applies pending migrations, seeds an empty database, builds the shared dependencies. */
export type AppConfig = Pick<Config, 'DATABASE_URL' | 'DATA_DIR' | 'TOKEN_SECRET' | 'TOKEN_TTL_SECONDS' | 'SEED_DEMO'> &
  Partial<
    Pick<
      Config,
      | 'EVENT_RETENTION_HOURS'
      | 'ALERT_AUDIENCE'
      | 'HISTORY_RETENTION_DAYS'
      | 'ORG_FILES_QUOTA_MB'
      | 'IDEMPOTENCY_TTL_HOURS'
      | 'PRUNE_INTERVAL_MINUTES'
      | 'MUTATIONS_PER_SECOND_PER_CONNECTION'
      | 'MUTATIONS_PER_SECOND_PER_USER'
      | 'REALTIME_MESSAGES_PER_MINUTE'
      | 'MAX_SUBSCRIPTIONS_PER_CONNECTION'
      | 'MAX_CONNECTIONS_PER_USER'
      | 'QUERY_COST_PER_SECOND_PER_CONNECTION'
      | 'QUERY_COST_PER_SECOND_PER_USER'
      | 'MAX_HTTP_REQUESTS_PER_USER'
      | 'LOGIN_FAILURES_PER_ACCOUNT'
      | 'LOGIN_FAILURES_PER_ADDRESS'
      | 'LOGIN_FAILURE_WINDOW_SECONDS'
      | 'LOGIN_LOCK_SECONDS'
      | 'LOGIN_LOCK_MAX_SECONDS'
      | 'TRUST_PROXY'
      | 'SLOW_CONSUMER_BUFFER_BYTES'
      | 'SLOW_CONSUMER_DRAIN_MS'
      | 'SLOW_CONSUMER_MAX_CATCHUP_EVENTS'
      | 'PRESENCE_IDLE_MS'
      | 'WEEKLY_CAPACITY_HOURS'
      | 'CALL_RING_TIMEOUT_MS'
      | 'WS_DIRECT_DELIVERY'
      | 'MAX_COMMITS_WAITING'
      | 'MAX_COMMIT_LATENCY_MS'
      | 'GROUP_COMMIT'
      | 'SCHEDULER_INTERVAL_MS'
      | 'ALERT_SWEEP_MS'
      | 'BUS'
      | 'REDIS_URL'
      | 'TYPING_TIMEOUT_MS'
      | 'NODE_TTL_MS'
      | 'SESSION_MAX_AGE_DAYS'
      | 'SESSION_CHECK_MS'
      | 'PUBLIC_URL'
      | 'CARRIER_KEYS'
      | 'TWILIO_API_URL'
      | 'WHATSAPP_GRAPH_URL'
      | 'CARRIER_SEND_TIMEOUT_MS'
      | 'CARRIER_RECONCILE_MS'
      | 'CARRIER_SEND_DEADLINE_MS'
      | 'OUTBOX_POLL_MS'
      | 'RABBITMQ_SYNC_MS'
      | 'RABBITMQ_ALLOWED_HOSTS'
    >
  >;

async function createBus(config: AppConfig, db: Database['prisma'], logger: Logger): Promise<EventBus> {
  if (config.BUS !== 'redis' || !config.REDIS_URL) return new InProcessBus();
  const bus = new RedisBus({ url: config.REDIS_URL, db, logger });
  await bus.start();
  return bus;
}

/** With BUS=redis, presence is one view of every node (see presence/redis.ts). */
async function createPresence(config: AppConfig, logger: Logger): Promise<PresenceService> {
  const presence = new PresenceService({
    idleAfterMs: config.PRESENCE_IDLE_MS ?? defaultPresenceOptions.idleAfterMs,
    typingTimeoutMs: config.TYPING_TIMEOUT_MS ?? defaultPresenceOptions.typingTimeoutMs,
  });
  if (config.BUS === 'redis' && config.REDIS_URL) await new RedisPresenceSync(presence, { url: config.REDIS_URL, logger, nodeTtlMs: config.NODE_TTL_MS }).start();
  return presence;
}

/** With BUS=redis, per-user limits are counted across nodes (see limits/redis.ts). */
async function createSharedLimitStore(config: AppConfig, logger: Logger): Promise<RedisLimitStore | undefined> {
  if (config.BUS !== 'redis' || !config.REDIS_URL) return undefined;
  const store = new RedisLimitStore({ url: config.REDIS_URL, logger, slotTtlMs: config.NODE_TTL_MS });
  await store.start();
  return store;
}

/** With BUS=redis, a revocation or role change reaches every node's open connections through Redis (see auth/sessions.ts). */
async function createSessions(
  config: AppConfig,
  db: Database['prisma'],
  tokens: TokenService,
  logger: Logger,
  onConnectionEnded: (connectionId: string) => void,
): Promise<SessionService> {
  let channel: SessionChannel = new InProcessSessionChannel();
  if (config.BUS === 'redis' && config.REDIS_URL) {
    const redis = new RedisSessionChannel({ url: config.REDIS_URL, logger });
    await redis.start();
    channel = redis;
  }
  return new SessionService({
    db,
    tokens,
    channel,
    logger,
    maxAgeMs: (config.SESSION_MAX_AGE_DAYS ?? 30) * 86_400_000,
    checkEveryMs: config.SESSION_CHECK_MS ?? 500,
    onConnectionEnded,
  });
}

export async function createApp(config: AppConfig, logger: Logger): Promise<App> {
  // What record changes raise in their own transaction: the event log knows none of it (events/effects.ts).
  registerChangeEffect(notificationEffect);
  registerChangeEffect(alertEffect);
  registerChangeEffect(loadEffect);
  registerChangeEffect(teamNotificationEffect);
  setAlertAudiences(config.ALERT_AUDIENCE ?? {});
  setDefaultWeeklyCapacity(config.WEEKLY_CAPACITY_HOURS ?? 40);
  const database = await openDatabase(config);
  const applied = config.DATABASE_URL
    ? await withMigrationLock(config.DATABASE_URL, () => applyMigrations(new PrismaPg({ connectionString: config.DATABASE_URL }), { closeConnections: true }))
    : await applyMigrations(database.adapterFactory);
  if (applied.length) logger.info('migrations applied', { applied });
  const tokens = createTokenService(await loadTokenSecret(config.TOKEN_SECRET, config.DATA_DIR), config.TOKEN_TTL_SECONDS);
  const presence = await createPresence(config, logger);
  const publicUrl = config.PUBLIC_URL?.replace(/\/+$/, '');
  const carriers = new Carriers(
    database.prisma,
    await loadCredentialBox(config.CARRIER_KEYS, config.DATA_DIR),
    {
      twilioApiUrl: config.TWILIO_API_URL,
      whatsappGraphUrl: config.WHATSAPP_GRAPH_URL,
      rabbitAllowedHosts: config.RABBITMQ_ALLOWED_HOSTS ?? [],
      sendTimeoutMs: config.CARRIER_SEND_TIMEOUT_MS ?? 10_000,
      publicUrl,
    },
    logger,
  );
  let outbox: Outbox | undefined;
  const deps: AppDeps = {
    db: database.prisma,
    bus: await createBus(config, database.prisma, logger),
    tokens,
    // A connection whose session ends stays open (refusing calls) but is no longer present.
    sessions: await createSessions(config, database.prisma, tokens, logger, (connectionId) => presence.disconnect(connectionId)),
    publicUrl,
    limits: createLimits(
      {
        mutationsPerSecondPerConnection: config.MUTATIONS_PER_SECOND_PER_CONNECTION ?? defaultLimits.mutationsPerSecondPerConnection,
        mutationsPerSecondPerUser: config.MUTATIONS_PER_SECOND_PER_USER ?? defaultLimits.mutationsPerSecondPerUser,
        realtimeMessagesPerMinute: config.REALTIME_MESSAGES_PER_MINUTE ?? defaultLimits.realtimeMessagesPerMinute,
        maxSubscriptionsPerConnection: config.MAX_SUBSCRIPTIONS_PER_CONNECTION ?? defaultLimits.maxSubscriptionsPerConnection,
        maxConnectionsPerUser: config.MAX_CONNECTIONS_PER_USER ?? defaultLimits.maxConnectionsPerUser,
        queryCostPerSecondPerConnection: config.QUERY_COST_PER_SECOND_PER_CONNECTION ?? defaultLimits.queryCostPerSecondPerConnection,
        queryCostPerSecondPerUser: config.QUERY_COST_PER_SECOND_PER_USER ?? defaultLimits.queryCostPerSecondPerUser,
        maxHttpRequestsPerUser: config.MAX_HTTP_REQUESTS_PER_USER ?? defaultLimits.maxHttpRequestsPerUser,
        logins: {
          failuresPerAccount: config.LOGIN_FAILURES_PER_ACCOUNT ?? defaultLimits.logins.failuresPerAccount,
          failuresPerAddress: config.LOGIN_FAILURES_PER_ADDRESS ?? defaultLimits.logins.failuresPerAddress,
          windowSeconds: config.LOGIN_FAILURE_WINDOW_SECONDS ?? defaultLimits.logins.windowSeconds,
          lockSeconds: config.LOGIN_LOCK_SECONDS ?? defaultLimits.logins.lockSeconds,
          maxLockSeconds: config.LOGIN_LOCK_MAX_SECONDS ?? defaultLimits.logins.maxLockSeconds,
        },
      },
      await createSharedLimitStore(config, logger),
    ),
    metrics: createMetrics(),
    logger,
    inflight: createInflightTracker(),
    admission: new CommitAdmission(commitLimits(config.MAX_COMMITS_WAITING, config.MAX_COMMIT_LATENCY_MS)),
    weeklyCapacityHours: config.WEEKLY_CAPACITY_HOURS ?? 40,
    filesQuotaBytes: (config.ORG_FILES_QUOTA_MB ?? 2048) * 1024 * 1024,
    callRingTimeoutMs: config.CALL_RING_TIMEOUT_MS ?? 30_000,
    directDelivery: config.WS_DIRECT_DELIVERY ?? true,
    replays: new ReplayCache(database.prisma),
    trustedProxies: config.TRUST_PROXY ?? 0,
    presence,
    backpressure: {
      maxBufferedBytes: config.SLOW_CONSUMER_BUFFER_BYTES ?? defaultBackpressure.maxBufferedBytes,
      drainTimeoutMs: config.SLOW_CONSUMER_DRAIN_MS ?? defaultBackpressure.drainTimeoutMs,
      maxCatchUpEvents: config.SLOW_CONSUMER_MAX_CATCHUP_EVENTS ?? defaultBackpressure.maxCatchUpEvents,
    },
    carriers,
    // Made below, once deps exist; messages are queued only by calls, which start after.
    outbox: { wake: () => outbox?.wake(), deadlineMs: config.CARRIER_SEND_DEADLINE_MS ?? defaultOutboxOptions.deadlineMs },
  };
  outbox = new Outbox(deps, carriers, {
    ...defaultOutboxOptions,
    pollMs: config.OUTBOX_POLL_MS ?? defaultOutboxOptions.pollMs,
    reconcileMs: config.CARRIER_RECONCILE_MS ?? defaultOutboxOptions.reconcileMs,
    deadlineMs: config.CARRIER_SEND_DEADLINE_MS ?? defaultOutboxOptions.deadlineMs,
  });
  if (config.BUS === 'redis' && !config.CARRIER_KEYS?.length) {
    logger.warn('CARRIER_KEYS is not set: this node seals carrier credentials with a key of its own, which the other nodes cannot open; set the same CARRIER_KEYS on every node');
  }
  const rekeyed = await carriers.rekey();
  if (rekeyed) logger.info('carrier credentials sealed again under the current key', { rows: rekeyed });
  if (config.GROUP_COMMIT === false) configureGroupCommit(deps.db, { maxBatch: 1 });
  deps.metrics.observeCommits({ waiting: () => deps.admission.waiting, shed: () => deps.admission.shed, grouped: () => groupCommitOf(deps.db).stats });
  if (config.SEED_DEMO && (await deps.db.org.count()) === 0) {
    logger.info('seeding demo data');
    await seedDemoData(deps);
  }
  const stopPruning = schedulePruning(deps.db, {
    eventRetentionMs: (config.EVENT_RETENTION_HOURS ?? 7 * 24) * 3_600_000,
    historyRetentionMs: config.HISTORY_RETENTION_DAYS === 0 ? null : (config.HISTORY_RETENTION_DAYS ?? 365) * 24 * 3_600_000,
    idempotencyTtlMs: (config.IDEMPOTENCY_TTL_HOURS ?? 24) * 3_600_000,
    everyMs: (config.PRUNE_INTERVAL_MINUTES ?? 60) * 60_000,
    alsoPrune: [(db) => pruneUnsentUploads(db)],
    onError: (error) => logger.error('pruning failed', { err: error }),
  });
  outbox.start();
  const rabbitBridge = new RabbitBridge(deps, carriers.rabbit, config.RABBITMQ_SYNC_MS ?? 5_000);
  carriers.onChange(() => void rabbitBridge.sync());
  rabbitBridge.start();
  const scheduler = startScheduler(deps, { intervalMs: config.SCHEDULER_INTERVAL_MS ?? 1_000, alertSweepMs: config.ALERT_SWEEP_MS ?? 60_000 });
  const hasDemo = (await deps.db.user.count({ where: { email: { in: DEMO_LOGINS.map((login) => login.email) } } })) > 0;
  return {
    deps,
    describeDatabase: database.kind === 'pglite' ? `embedded PostgreSQL (PGlite) in ${config.DATA_DIR}` : 'PostgreSQL server (DATABASE_URL)',
    demoLogins: hasDemo ? DEMO_LOGINS : [],
    demoPassword: DEMO_PASSWORD,
    scheduler,
    async close() {
      await scheduler.stop();
      await outbox?.stop();
      await rabbitBridge.close();
      await stopPruning();
      await deps.sessions.close();
      await deps.presence.close();
      await deps.limits.close();
      await deps.bus.close?.();
      await database.close();
    },
  };
}
