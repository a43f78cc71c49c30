import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { Connection } from 'rabbitmq-client';
import { describe, expect, it, vi } from 'vitest';
import { isRabbitLeftOut, startRabbit } from './helpers/rabbitmq.ts';

/** Whether something accepts TCP connections on this loopback port (or holds it without answering). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const settle = (accepted: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(accepted);
    };
    const timer = setTimeout(() => settle(true), 2_000);
    socket.once('connect', () => settle(true));
    socket.once('error', () => settle(false));
  });
}

/** Command lines of every running process (zombies show as `[name] <defunct>`, without their arguments). */
function processLines(): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n');
}

describe.skipIf(isRabbitLeftOut)('the RabbitMQ test broker (tests/helpers/rabbitmq.ts)', () => {
  it('keeps a persistent message of a durable queue across a crash, and leaves nothing behind once disposed', { timeout: 60_000 }, async () => {
    const broker = await startRabbit();
    const port = Number(new URL(broker.url).port);
    const queue = 'tandem-durable-test';
    try {
      // Short reconnection backoff: the broker is away for a few seconds.
      const rabbit = new Connection({ url: broker.url, retryLow: 100, retryHigh: 500, connectionTimeout: 5_000 });
      // The crash ends the connection with an error; the client reconnects by itself.
      rabbit.on('error', () => {});
      let connections = 0;
      rabbit.on('connection', () => connections++);
      try {
        await rabbit.onConnect(10_000);
        await rabbit.queueDeclare({ queue, durable: true });
        const publisher = rabbit.createPublisher({ confirm: true });
        try {
          await publisher.send({ routingKey: queue, durable: true, contentType: 'text/plain' }, 'survives a crash');
        } finally {
          await publisher.close();
        }

        await broker.stop();
        expect(await accepts(port)).toBe(false);
        await broker.start();

        const received: unknown[] = [];
        const consumer = rabbit.createConsumer({ queue, queueOptions: { durable: true } }, async (message) => {
          received.push(message.body);
        });
        // It retries by itself (the broker may still be booting): what went wrong explains a failure.
        const consumerErrors: string[] = [];
        consumer.on('error', (error) => consumerErrors.push(String(error)));
        try {
          await vi.waitFor(() => expect(received, `consumer errors: ${consumerErrors.join('; ') || 'none'}`).toEqual(['survives a crash']), { timeout: 20_000, interval: 50 });
        } finally {
          await consumer.close();
        }
        expect(connections).toBeGreaterThanOrEqual(2);
      } finally {
        await rabbit.close();
      }
    } finally {
      await broker[Symbol.asyncDispose]();
    }

    expect(await accepts(port)).toBe(false);
    expect(await accepts(broker.epmdPort)).toBe(false);
    const left = processLines().filter((line) => line.includes(broker.nodeName) || line.includes(broker.dir) || line.includes(`-epmd_port ${broker.epmdPort}`));
    expect(left).toEqual([]);
    expect(existsSync(broker.dir)).toBe(false);
  });
});
