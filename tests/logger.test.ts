import { execFile } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createContextInner, newConnectionInfo } from '../src/server/context.ts';
import { createLogger, type LogLevel } from '../src/server/logger.ts';
import { startTestServer } from './helpers/server.ts';

interface LogLine {
  level: string;
  time: string;
  msg: string;
  [field: string]: unknown;
}

/** The real logger over a stream of our own: its lines, raw and parsed. */
function capturingLogger(level: LogLevel = 'debug') {
  const raw: string[] = [];
  const logger = createLogger(level, { write: (line: string) => void raw.push(line) });
  return { logger, raw, lines: () => raw.map((line) => JSON.parse(line) as LogLine) };
}

describe('the logger', () => {
  it('writes one JSON line per entry: the level by name, the time in ISO 8601, the message under msg, then the fields', () => {
    const { logger, raw, lines } = capturingLogger('info');
    logger.info('connected', { connection: 'ws-1' });
    logger.warn('redis is unreachable: tailing the event log');
    expect(raw).toHaveLength(2);
    expect(raw.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(true);
    const [first, second] = lines();
    expect(first).toMatchObject({ level: 'info', msg: 'connected', connection: 'ws-1' });
    expect(new Date(first!.time).toISOString()).toBe(first!.time);
    expect(second).toMatchObject({ level: 'warn', msg: 'redis is unreachable: tailing the event log' });
  });

  it('logs an error under err with its type, message, stack and cause', () => {
    const { logger, lines } = capturingLogger();
    const cause = new TypeError('socket hang up');
    logger.error('tailing the event log failed', { err: new Error('read failed', { cause }) });
    const [line] = lines();
    const err = line!.err as { type: string; message: string; stack: string };
    expect(err.type).toBe('Error');
    expect(err.message).toContain('read failed');
    expect(err.stack).toMatch(/^Error: read failed\n\s+at .*logger\.test\.ts/);
    // pino's serializer appends the causes' stacks.
    expect(err.stack).toContain('caused by: TypeError: socket hang up');
  });

  it('never writes a token or a password, wherever a call site puts them', () => {
    const { logger, raw, lines } = capturingLogger();
    const secrets = [
      'tok-top',
      'pw-top',
      'pw-current',
      'pw-new',
      'Bearer tok-auth',
      'tok-nested',
      'pw-nested',
      'tok-params',
      'Bearer tok-headers',
      'Bearer tok-req',
      'tok-bound',
      'sess=tok-cookie',
    ];
    logger.child({ token: 'tok-bound' }).warn('sign-in refused', {
      token: 'tok-top',
      password: 'pw-top',
      currentPassword: 'pw-current',
      newPassword: 'pw-new',
      authorization: 'Bearer tok-auth',
      user: { email: 'alice@acme.test', token: 'tok-nested', password: 'pw-nested' },
      connectionParams: { token: 'tok-params' },
      headers: { authorization: 'Bearer tok-headers' },
      req: { headers: { authorization: 'Bearer tok-req', cookie: 'sess=tok-cookie' } },
    });
    for (const secret of secrets) expect(raw.join('')).not.toContain(secret);
    expect(lines()[0]).toMatchObject({
      token: '[redacted]',
      password: '[redacted]',
      user: { email: 'alice@acme.test', token: '[redacted]', password: '[redacted]' },
      connectionParams: '[redacted]',
      headers: { authorization: '[redacted]' },
    });
  });

  it('writes only the entries at or above its level, and nothing when silent', () => {
    const written = (level: LogLevel) => {
      const { logger, lines } = capturingLogger(level);
      logger.debug('d');
      logger.info('i');
      logger.warn('w');
      logger.error('e');
      logger.child({ connection: 'ws-1' }).debug('child d');
      return lines().map((line) => line.level);
    };
    expect(written('debug')).toEqual(['debug', 'info', 'warn', 'error', 'debug']);
    expect(written('info')).toEqual(['info', 'warn', 'error']);
    expect(written('warn')).toEqual(['warn', 'error']);
    expect(written('error')).toEqual(['error']);
    expect(written('silent')).toEqual([]);
  });

  it("writes a child's bindings on each of its lines, not on its parent's; a call's fields win", () => {
    const { logger, lines } = capturingLogger();
    const connection = logger.child({ connection: 'ws-7', userId: 'u1', orgId: 'o1' });
    connection.warn('rate limited', { limit: 'mutations per second' });
    connection.child({ path: 'records.update' }).info('nested', { userId: 'u2' });
    logger.info('parent');
    const [first, nested, parent] = lines();
    expect(first).toMatchObject({ msg: 'rate limited', connection: 'ws-7', userId: 'u1', orgId: 'o1', limit: 'mutations per second' });
    expect(nested).toMatchObject({ connection: 'ws-7', userId: 'u2', orgId: 'o1', path: 'records.update' });
    expect(parent).not.toHaveProperty('connection');
  });

  it('holds a child in well under 0.3 KB of heap (a pino child holds about 0.55 KB)', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const { logger } = capturingLogger('info');
    const count = 10_000;
    const bindings = Array.from({ length: count }, (_, i) => ({ connection: `ws-1-${i}`, userId: `u${i}`, orgId: 'o1' }));
    gc();
    const before = process.memoryUsage().heapUsed;
    const children = bindings.map((b) => logger.child(b));
    gc();
    const perChild = (process.memoryUsage().heapUsed - before) / count;
    expect(children).toHaveLength(count);
    expect(perChild).toBeLessThan(300);
  });

  it('writes to stderr, nothing to stdout, by default', async () => {
    const script = `import { createLogger } from ${JSON.stringify(new URL('../src/server/logger.ts', import.meta.url).href)};
      createLogger('info').info('hello', { token: 'tok-stderr' });`;
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], (error, stdout, stderr) => (error ? reject(error) : resolve({ stdout, stderr }))),
    );
    expect(stdout).toBe('');
    expect(JSON.parse(stderr)).toMatchObject({ level: 'info', msg: 'hello', token: '[redacted]' });
  });
});

describe("a connection's logger", () => {
  it("carries each WebSocket connection's id, user and org on its lines", async () => {
    await using t = await startTestServer();
    const { logger, lines } = capturingLogger('info');
    t.deps.logger = logger;
    const alice = t.users['alice@acme.test'];
    const socket = new WebSocket(`${t.server.wsUrl}?connectionParams=1`);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ method: 'connectionParams', data: { token: await t.tokenFor('alice@acme.test') } }));
    socket.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'presence.list' } }));
    await vi.waitFor(() => expect(lines().map((line) => line.msg)).toContain('connected'), { timeout: 5_000 });
    socket.close();
    await vi.waitFor(() => expect(lines().map((line) => line.msg)).toContain('disconnected'), { timeout: 5_000 });
    const connected = lines().find((line) => line.msg === 'connected')!;
    expect(connected).toMatchObject({ connection: expect.stringMatching(/^ws-/), userId: alice.id, orgId: alice.orgId });
    expect(lines().find((line) => line.msg === 'disconnected')).toMatchObject({ connection: connected.connection, userId: alice.id, orgId: alice.orgId, code: 1005 });
  });

  it("carries an HTTP request's own id, user and org", async () => {
    await using t = await startTestServer();
    const { logger, lines } = capturingLogger('info');
    const bob = t.users['bob@acme.test'];
    const ctx = await createContextInner({ ...t.deps, logger }, await t.tokenFor('bob@acme.test'), newConnectionInfo('http', '127.0.0.1'));
    const other = await createContextInner({ ...t.deps, logger }, null);
    ctx.logger.warn('rate limited', { limit: 'queries per second' });
    other.logger.warn('sign-in refused: too many failures');
    const [line, anonymous] = lines();
    expect(line).toMatchObject({ connection: expect.stringMatching(/^http-/), userId: bob.id, orgId: bob.orgId, limit: 'queries per second' });
    expect(anonymous).toMatchObject({ connection: expect.stringMatching(/^http-/) });
    expect(anonymous!.connection).not.toBe(line!.connection);
    expect(anonymous).not.toHaveProperty('userId');
  });
});
