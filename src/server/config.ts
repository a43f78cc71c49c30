import { z } from 'zod';
import { DEFAULT_MAX_BATCH_SIZE } from '../shared/limits.ts';
import { parseCarrierKeys } from './carriers/credentials.ts';
import { DEV_SERVER_ORIGINS, parseOrigins } from './transport/origins.ts';
import { ALERT_KINDS, type AlertKind } from '../shared/comms.ts';
import { ALERT_AUDIENCES, type AlertAudience } from './alerts/audience.ts';

/** An on/off setting: `true` or `false`, nothing else. */
const flag = (byDefault: boolean) =>
  z
    .enum(['true', 'false'])
    .default(byDefault ? 'true' : 'false')
    .transform((value) => value === 'true');

const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgresql:// URL')
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  /**
   * The embedded database's page cache, in MB (PostgreSQL's `shared_buffers`). PGlite keeps
   * all of it resident, so it is most of an idle server's memory; 16 MB holds the demo's
   * working set, and what misses it is read from the operating system's file cache.
   */
  PGLITE_SHARED_BUFFERS_MB: z.coerce.number().int().min(1).max(4096).default(16),
  /** Let V8 optimize the embedded database's hot code: about 100 MB more memory for about 3 % less commit CPU. */
  PGLITE_OPTIMIZING_COMPILER: flag(false),
  BUS: z.enum(['memory', 'redis']).default('memory'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'REDIS_URL must be a redis:// URL')
    .optional(),
  NODE_TTL_MS: z.coerce.number().int().positive().default(15_000),
  TOKEN_SECRET: z.string().min(32, 'TOKEN_SECRET must be at least 32 characters').optional(),
  TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(12 * 3600),
  /** A sign-in's absolute lifetime: refreshing its token never goes past it. */
  SESSION_MAX_AGE_DAYS: z.coerce.number().positive().default(30),
  /** How often each node checks the sessions of its open connections against the database (what no notice announced). */
  SESSION_CHECK_MS: z.coerce.number().int().positive().default(500),
  /** Where the web app is reached, for links sent to people (invitations); absent: relative links. */
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  EVENT_RETENTION_HOURS: z.coerce
    .number()
    .positive()
    .default(7 * 24),
  /** All the files one org's agents attached to replies, together: past it, uploads are refused. */
  ORG_FILES_QUOTA_MB: z.coerce.number().positive().default(2048),
  /** How long record changes are kept as the records' history; 0: for ever. */
  HISTORY_RETENTION_DAYS: z.coerce.number().min(0).default(365),
  IDEMPOTENCY_TTL_HOURS: z.coerce.number().positive().default(24),
  PRUNE_INTERVAL_MINUTES: z.coerce.number().positive().default(60),
  MUTATIONS_PER_SECOND_PER_CONNECTION: z.coerce.number().positive().default(20),
  MUTATIONS_PER_SECOND_PER_USER: z.coerce.number().positive().default(50),
  REALTIME_MESSAGES_PER_MINUTE: z.coerce.number().positive().default(100),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().positive().default(100),
  MAX_CONNECTIONS_PER_USER: z.coerce.number().int().positive().default(20),
  // Sign-in throttling (limits/logins.ts): whole seconds, since Redis expires keys by the second.
  LOGIN_FAILURES_PER_ACCOUNT: z.coerce.number().int().positive().default(10),
  LOGIN_FAILURES_PER_ADDRESS: z.coerce.number().int().positive().default(100),
  LOGIN_FAILURE_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(15 * 60),
  LOGIN_LOCK_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(15 * 60),
  LOGIN_LOCK_MAX_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(24 * 3600),
  // Reverse proxies in front whose X-Forwarded-For entries are believed (context.ts clientAddress).
  TRUST_PROXY: z.coerce.number().int().nonnegative().default(0),
  KEEPALIVE_PING_MS: z.coerce.number().int().positive().default(30_000),
  KEEPALIVE_PONG_WAIT_MS: z.coerce.number().int().positive().default(5_000),
  SHUTDOWN_DRAIN_MS: z.coerce.number().int().nonnegative().default(10_000),
  SLOW_CONSUMER_BUFFER_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  SLOW_CONSUMER_DRAIN_MS: z.coerce.number().int().positive().default(30_000),
  QUERY_COST_PER_SECOND_PER_CONNECTION: z.coerce.number().positive().default(200),
  QUERY_COST_PER_SECOND_PER_USER: z.coerce.number().positive().default(400),
  MAX_HTTP_REQUESTS_PER_USER: z.coerce.number().int().positive().default(16),
  MAX_BATCH_SIZE: z.coerce.number().int().positive().default(DEFAULT_MAX_BATCH_SIZE),
  MAX_REQUESTS_IN_FLIGHT_PER_CONNECTION: z.coerce.number().int().positive().default(8),
  AUTH_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  MAX_UNAUTHENTICATED_SOCKETS_PER_ADDRESS: z.coerce.number().int().positive().default(500),
  SLOW_CONSUMER_MAX_CATCHUP_EVENTS: z.coerce.number().int().nonnegative().default(10_000),
  PRESENCE_IDLE_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(5 * 60_000),
  TYPING_TIMEOUT_MS: z.coerce.number().int().positive().default(3_000),
  WEEKLY_CAPACITY_HOURS: z.coerce.number().positive().default(40),
  CALL_RING_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  SCHEDULER_INTERVAL_MS: z.coerce.number().int().positive().default(1_000),
  ALERT_SWEEP_MS: z.coerce.number().int().positive().default(60_000),
  WS_BATCH_WRITES: flag(true),
  /** Past this many commits waiting on the node (or a quarter of it for one org), changes are refused with SERVICE_UNAVAILABLE and `retryAfterMs`. */
  MAX_COMMITS_WAITING: z.coerce.number().int().positive().default(256),
  /** A commit that takes longer than this (ms) from admission to durable shrinks the bound on commits waiting (events/commit-admission.ts). */
  MAX_COMMIT_LATENCY_MS: z.coerce.number().int().positive().default(250),
  /** Commit changes that arrive together in one transaction (events/group-commit.ts); false: each alone, to compare. */
  GROUP_COMMIT: flag(true),
  WS_DIRECT_DELIVERY: flag(true),
  SEED_DEMO: flag(true),
  /**
   * Keys that seal carrier credentials at rest: `id:base64,id:base64` (32-byte keys, the first
   * seals; the others only open). Absent: one generated in DATA_DIR (carriers/credentials.ts).
   */
  CARRIER_KEYS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const parsed = parseCarrierKeys(value);
      if (!('error' in parsed)) return parsed;
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }),
  /** The Twilio REST API's base URL (a regional edge, or a stand-in in tests). */
  TWILIO_API_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Meta's Graph API (WhatsApp Cloud) base URL; the tests point it at a stand-in. */
  WHATSAPP_GRAPH_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** One call to a carrier's API; past it, the attempt's outcome is unknown (carriers/outbox.ts). */
  CARRIER_SEND_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** How long an attempt of unknown outcome waits for the carrier's status callback before the message is sent again. */
  CARRIER_RECONCILE_MS: z.coerce.number().int().positive().default(120_000),
  /** A queued message not sent within this fails. */
  CARRIER_SEND_DEADLINE_MS: z.coerce.number().int().positive().default(3_600_000),
  OUTBOX_POLL_MS: z.coerce.number().int().positive().default(1_000),
  /**
   * Broker hosts an org's admin may connect a RabbitMQ bridge to (comma-separated host names
   * or addresses; `*`: any). Empty (the default): none, so that no tenant can make the server
   * open connections into the operator's network.
   */
  RABBITMQ_ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((host) => host.trim().toLowerCase())
        .filter(Boolean),
    ),
  /**
   * Who each kind of alert notifies: `kind:audience` pairs, comma-separated, audience one of
   * `owner`, `team`, `org` (alerts/rules.ts); a kind not named notifies its `team`.
   * e.g. `lead_uncontacted:owner,escrow_closing:org`.
   */
  ALERT_AUDIENCE: z
    .string()
    .default('')
    .transform((value, context) => {
      const byKind: Partial<Record<AlertKind, AlertAudience>> = {};
      for (const pair of value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)) {
        const [kind, audience] = pair.split(':').map((part) => part.trim());
        if (!(ALERT_KINDS as readonly string[]).includes(kind ?? '') || !(ALERT_AUDIENCES as readonly string[]).includes(audience ?? '')) {
          context.addIssue({ code: 'custom', message: `"${pair}" is not kind:audience with a kind of ${ALERT_KINDS.join(', ')} and an audience of ${ALERT_AUDIENCES.join(', ')}` });
          return z.NEVER;
        }
        byKind[kind as AlertKind] = audience as AlertAudience;
      }
      return byKind;
    }),
  /** How often each node checks which RabbitMQ bridges it should be consuming for (carriers connected on other nodes). */
  RABBITMQ_SYNC_MS: z.coerce.number().int().positive().default(5_000),
  /** Browser origins besides the server's own that may use the API (WebSocket and CORS): transport/origins.ts. */
  ALLOWED_ORIGINS: z
    .string()
    .default(DEV_SERVER_ORIGINS.join(','))
    .transform((value, ctx) => {
      const parsed = parseOrigins(value);
      if ('origins' in parsed) return parsed.origins;
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }),
});

export type Config = z.infer<typeof configSchema>;

function checkCombinations(config: Config): string[] {
  return [
    ...(config.BUS === 'redis' && !config.REDIS_URL ? ['  REDIS_URL: required when BUS=redis'] : []),
    // Else an attempt still waiting for its answer could be claimed and sent again (carriers/outbox.ts).
    ...(config.CARRIER_RECONCILE_MS <= config.CARRIER_SEND_TIMEOUT_MS ? ['  CARRIER_RECONCILE_MS: must be longer than CARRIER_SEND_TIMEOUT_MS'] : []),
  ];
}

/** Reads the configuration from the environment; a bad value stops the start with a clear message. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, value]) => value !== '')));
  const problems = parsed.success ? checkCombinations(parsed.data) : parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  if (!parsed.success || problems.length) throw new Error(`Invalid configuration:\n${problems.join('\n')}`);
  return parsed.data;
}
