import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { signWebhook } from '../src/server/comms/webhooks.ts';
import { createLogger } from '../src/server/logger.ts';
import { startTestServer } from './helpers/server.ts';

/** What a real deployment would hide: a message with SQL, a server path and a source line. */
const SECRET_DETAIL = 'relation "Job" failed at /srv/tandem/src/server/records/service.ts:91:12 → SELECT * FROM "Job"';

interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** The real logger, its lines parsed. */
function capturingLogger() {
  const entries: LogLine[] = [];
  const logger = createLogger('debug', { write: (line: string) => void entries.push(JSON.parse(line) as LogLine) });
  return Object.assign(logger, { entries });
}

afterEach(() => {
  vi.restoreAllMocks();
});

function expectGenericAnswer(message: string, logger: ReturnType<typeof capturingLogger>, path: string) {
  expect(message).toMatch(/^Internal error \(id [0-9a-f]{12}\)$/);
  expect(message).not.toContain('/srv/');
  const id = /id ([0-9a-f]+)/.exec(message)![1];
  const logged = logger.entries.find((entry) => entry.level === 'error' && entry.errorId === id);
  expect(logged).toMatchObject({ msg: 'procedure failed', path, err: { type: 'Error', message: SECRET_DETAIL } });
  expect((logged?.err as { stack?: string } | undefined)?.stack).toContain('internal-errors.test.ts');
}

describe('an internal error', () => {
  it('answers a generic message with an id over HTTP, and logs the details under that id', async () => {
    const logger = capturingLogger();
    await using t = await startTestServer({ server: { logger } });
    vi.spyOn(t.deps.presence, 'list').mockImplementation(() => {
      throw new Error(SECRET_DETAIL);
    });
    const token = await t.tokenFor('alice@acme.test');
    const response = await fetch(`${t.server.trpcUrl}/presence.list`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toMatch(/srv|service\.ts|SELECT|stack/);
    const body = JSON.parse(text) as { error: { message: string; data: { code: string } } };
    expect(body.error.data.code).toBe('INTERNAL_SERVER_ERROR');
    expectGenericAnswer(body.error.message, logger, 'presence.list');
  });

  it('answers the same way over the WebSocket, for queries and subscriptions', async () => {
    const logger = capturingLogger();
    await using t = await startTestServer({ server: { logger } });
    vi.spyOn(t.deps.presence, 'list').mockImplementation(() => {
      throw new Error(SECRET_DETAIL);
    });
    const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const answers = new Map<number, { error?: { message: string } }>();
    const frames: string[] = [];
    socket.on('message', (data) => {
      frames.push(String(data));
      const answer = JSON.parse(String(data)) as { id: number; error?: { message: string } };
      if (answer.error) answers.set(answer.id, answer);
    });
    socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await t.tokenFor('alice@acme.test') } }));
    socket.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'presence.list' } }));
    socket.send(JSON.stringify({ id: 2, method: 'subscription', params: { path: 'presence.onChange' } }));
    await vi.waitFor(() => expect(answers.get(1)?.error && answers.get(2)?.error).toBeTruthy(), { timeout: 5_000 });
    expect(frames.join()).not.toMatch(/srv|service\.ts|SELECT|stack/);
    expectGenericAnswer(answers.get(1)!.error!.message, logger, 'presence.list');
    expectGenericAnswer(answers.get(2)!.error!.message, logger, 'presence.onChange');
    socket.close();
  });

  it('of a webhook answers 500 with an id, and logs the details under that id', async () => {
    await using t = await startTestServer();
    const logged = vi.spyOn(t.deps.logger, 'error');
    const { numbers, secret } = await (await t.caller('alice@acme.test')).webhooks.settings();
    vi.spyOn(t.deps.db, '$transaction').mockImplementation((() => Promise.reject(new Error(SECRET_DETAIL))) as never);
    const body = new URLSearchParams({ From: '+15557000123', To: numbers[0]!, Body: 'Hi', MessageSid: 'SMinternal000000001' }).toString();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const response = await fetch(`${t.server.url}/webhooks/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-tandem-timestamp': timestamp, 'x-tandem-signature': signWebhook(secret!, timestamp, body) },
      body,
    });
    expect(response.status).toBe(500);
    const { error } = (await response.json()) as { error: string };
    expect(error).toMatch(/^Internal error \(id [0-9a-f]{12}\)$/);
    const id = /id ([0-9a-f]+)/.exec(error)![1];
    const fields = logged.mock.calls.find(([, entry]) => entry?.errorId === id)?.[1];
    expect(fields?.err).toBeInstanceOf(Error);
    expect((fields?.err as Error | undefined)?.message).toContain(SECRET_DETAIL);
    expect((fields?.err as Error | undefined)?.stack).toContain('internal-errors.test.ts');
  });
});
