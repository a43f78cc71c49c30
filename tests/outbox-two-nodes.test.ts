import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHttpClient } from '../src/client/trpc.ts';
import { TEST_TOKEN_SECRET } from './helpers/app.ts';
import { startPostgres } from './helpers/postgres.ts';
import { freePort, startServerProcess, type ServerProcess } from './helpers/process.ts';
import { startProxy } from './helpers/proxy.ts';
import { expectEachDeliveredOnce, type QueuedReply } from './helpers/outbox.ts';
import { startTwilioStandIn } from './helpers/twilio-standin.ts';

/**
 * Two server processes on one PostgreSQL database, both sending from one outbox, behind one
 * public address that Twilio calls back. The node that queued the replies is killed with -9
 * while sends are in flight; the other finishes them.
 */
const ACCOUNT = `AC${'5e'.repeat(16)}`;
const TOKEN = 'fedcba9876543210fedcba9876543210';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('the outbox on two nodes', () => {
  it('sends every reply exactly once when the node that queued them dies mid-send, and the other takes over', async () => {
    const postgres = await startPostgres();
    cleanups.push(() => postgres.stop());
    const admin = new pg.Client({ connectionString: postgres.url() });
    await admin.connect();
    const database = `tandem_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();

    const standIn = await startTwilioStandIn({ accounts: { [ACCOUNT]: TOKEN }, callbackDelayMs: 5, callbackRetries: 600, callbackRetryDelayMs: 100 });
    cleanups.push(() => standIn.close());
    // The load balancer's address: Twilio calls it, and it reaches whichever node is alive.
    const [portA, portB] = [await freePort(), await freePort()];
    const balancer = await startProxy({ port: portA });
    cleanups.push(async () => balancer[Symbol.asyncDispose]());
    const env = (port: number) => ({
      PORT: String(port),
      DATABASE_URL: postgres.url(database),
      DATA_DIR: 'memory://',
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      CARRIER_KEYS: `shared:${Buffer.alloc(32, 4).toString('base64')}`,
      PUBLIC_URL: balancer.url,
      TWILIO_API_URL: standIn.url,
      CARRIER_SEND_TIMEOUT_MS: '3000',
      CARRIER_RECONCILE_MS: '4000',
      OUTBOX_POLL_MS: '100',
    });
    const nodes: ServerProcess[] = [];
    cleanups.push(async () => {
      for (const node of nodes) node.child.kill('SIGKILL');
      await Promise.all(nodes.map((node) => node.exit));
    });
    // The first seeds the demo data; the second starts on it.
    nodes.push(await startServerProcess(env(portA)));
    nodes.push(await startServerProcess({ ...env(portB), SEED_DEMO: 'false' }));
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const login = async (url: string, email: string) => {
      const { token } = await createHttpClient(url).auth.login.mutate({ email, password: 'demo1234' });
      return createHttpClient(url, () => token);
    };
    await (await login(a.url, 'alice@acme.test')).carriers.connect.mutate({ kind: 'twilio', accountSid: ACCOUNT, authToken: TOKEN });
    const bobOnA = await login(a.url, 'bob@acme.test');

    standIn.failNext(3, { kind: 'hang-after-accept' });
    standIn.failNext(3, { kind: 'hang-before-accept' });
    const replies: QueuedReply[] = [];
    for (let i = 0; i < 20; i++) {
      const body = `Two-node reply ${i} ${Date.now()}`;
      const { message } = await bobOnA.conversations.start.mutate({ channel: 'sms', phone: `+1555500${String(i).padStart(4, '0')}`, body });
      replies.push({ id: message.id, conversationId: message.conversationId, body });
    }
    await vi.waitFor(() => expect(standIn.createRequests).toBeGreaterThanOrEqual(8), { timeout: 10_000, interval: 5 });
    expect(standIn.messages.length).toBeLessThan(standIn.createRequests);
    a.child.kill('SIGKILL');
    await a.exit;
    balancer.retarget({ port: portB });

    await expectEachDeliveredOnce(standIn, await login(b.url, 'bob@acme.test'), replies);
  }, 120_000);
});
