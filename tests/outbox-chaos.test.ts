import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHttpClient } from '../src/client/trpc.ts';
import { freePort, startServerProcess, type ServerProcess } from './helpers/process.ts';
import { expectEachDeliveredOnce, type QueuedReply } from './helpers/outbox.ts';
import { startTwilioStandIn } from './helpers/twilio-standin.ts';

/**
 * The server as `npm start` runs it, sending replies through Twilio (the stand-in, spoken to
 * by the real `twilio` client), killed with -9 while sends are in flight, then restarted on
 * the same data folder.
 */
const ACCOUNT = `AC${'3c'.repeat(16)}`;
const TOKEN = '0123456789abcdef0123456789abcdef';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('the outbox across kill -9', () => {
  it('ends with every queued reply at Twilio exactly once, whatever the kill interrupted', async () => {
    // Twilio retries a status callback whose connection fails (connection overrides): long enough to span the restart.
    const standIn = await startTwilioStandIn({ accounts: { [ACCOUNT]: TOKEN }, callbackDelayMs: 5, callbackRetries: 600, callbackRetryDelayMs: 100 });
    cleanups.push(() => standIn.close());
    const dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-outbox-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      PORT: String(port),
      DATA_DIR: dataDir,
      PUBLIC_URL: url,
      TWILIO_API_URL: standIn.url,
      CARRIER_KEYS: `chaos:${Buffer.alloc(32, 3).toString('base64')}`,
      // The hung sends are still waiting for their answer when the kill comes.
      CARRIER_SEND_TIMEOUT_MS: '3000',
      CARRIER_RECONCILE_MS: '4000',
      OUTBOX_POLL_MS: '100',
    };
    let server: ServerProcess = await startServerProcess(env);
    cleanups.push(async () => {
      server.child.kill('SIGKILL');
      await server.exit;
      await rm(dataDir, { recursive: true, force: true });
    });
    const login = async (email: string) => {
      const { token } = await createHttpClient(url).auth.login.mutate({ email, password: 'demo1234' });
      return createHttpClient(url, () => token);
    };
    await (await login('alice@acme.test')).carriers.connect.mutate({ kind: 'twilio', accountSid: ACCOUNT, authToken: TOKEN });
    const bob = await login('bob@acme.test');

    // In flight at the kill: answers that never come (Twilio took three of them, three never reached it), and ordinary sends.
    standIn.failNext(3, { kind: 'hang-after-accept' });
    standIn.failNext(3, { kind: 'hang-before-accept' });
    const replies: QueuedReply[] = [];
    for (let i = 0; i < 24; i++) {
      const body = `Chaos reply ${i} ${Date.now()}`;
      const { message } = await bob.conversations.start.mutate({ channel: 'sms', phone: `+1555400${String(i).padStart(4, '0')}`, body });
      expect(message.status).toBe('queued');
      replies.push({ id: message.id, conversationId: message.conversationId, body });
    }
    await vi.waitFor(() => expect(standIn.createRequests).toBeGreaterThanOrEqual(8), { timeout: 10_000, interval: 5 });
    // Three taken by Twilio without an answer, three never taken: all six still open now.
    expect(standIn.messages.length).toBeLessThan(standIn.createRequests);
    server.child.kill('SIGKILL');
    await server.exit;

    server = await startServerProcess(env);
    const bobAgain = await login('bob@acme.test');
    // Every reply delivered (the callbacks reached the restarted server), each sent once.
    await expectEachDeliveredOnce(standIn, bobAgain, replies);
  }, 120_000);
});
