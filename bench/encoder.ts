/**
 * Micro-benchmark of the per-delivery encoding cost on the WebSocket: tRPC's default
 * encoder (JSON.stringify per subscriber message) against src/server/ws-encoder.ts
 * (each shared event serialized once, spliced into every subscriber's envelope).
 * Both run in the same process, alternating, and the ratio is what to read.
 *
 *   npm run bench:encoder -- [events=200] [subscribers=1000] [rounds=3]
 */
import { jsonEncoder } from '@trpc/server/adapters/ws';
import { markShared } from '../src/server/bus/shared-events.ts';
import { wsEncoder } from '../src/server/transport/ws-encoder.ts';
import type { CrmEvent } from '../src/shared/events.ts';

const [events = 200, subscribers = 1000, rounds = 3] = process.argv.slice(2).map(Number);

function makeEvent(seq: number): CrmEvent {
  return {
    seq,
    type: 'JOB_UPDATED',
    module: 'jobs',
    action: 'updated',
    recordId: 'cmwqzjhii003dir7dt0cc3l0s',
    version: 7,
    data: {
      title: { from: 'Replace water heater', to: 'Replace water heater (urgent)' },
      updatedAt: { from: '2026-11-21T22:34:21.162Z', to: '2026-11-21T22:35:21.162Z' },
    },
    userId: 'cmwqzjgqe0001ir7djewh5oj6',
    orgId: 'cmwqzjgq50000ir7d3zv9clf6',
    timestamp: '2026-11-21T22:35:21.162Z',
  };
}

function run(encode: (message: unknown) => unknown, share: boolean): number {
  let bytes = 0;
  const start = process.hrtime.bigint();
  for (let e = 0; e < events; e++) {
    const event = makeEvent(e);
    if (share) markShared(event);
    for (let s = 0; s < subscribers; s++) {
      const frame = encode({ id: s, jsonrpc: '2.0', result: { type: 'data', id: String(e), data: { id: String(e), data: event } } });
      bytes += (frame as string).length;
    }
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (bytes === 0) throw new Error('nothing encoded');
  return ms;
}

console.log(`encoding ${events} events for ${subscribers} subscribers each (${events * subscribers} frames)`);
for (let round = 1; round <= rounds; round++) {
  const baseline = run((message) => jsonEncoder.encode(message), false);
  const shared = run((message) => wsEncoder.encode(message), true);
  console.log(
    `round ${round}: tRPC jsonEncoder ${baseline.toFixed(0)} ms (${((baseline * 1000) / (events * subscribers)).toFixed(2)} µs/frame), ` +
      `shared-event encoder ${shared.toFixed(0)} ms (${((shared * 1000) / (events * subscribers)).toFixed(2)} µs/frame), ` +
      `${(baseline / shared).toFixed(2)}x less encoding work`,
  );
}
