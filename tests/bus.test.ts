import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../src/server/bus/memory.ts';
import { BusOverflow } from '../src/server/bus/types.ts';
import type { CrmEvent } from '../src/shared/events.ts';

let seq = 0;
function event(orgId: string, module: CrmEvent['module'] = 'jobs'): CrmEvent {
  seq += 1;
  return {
    seq,
    type: 'JOB_CREATED',
    module,
    action: 'created',
    recordId: `r${seq}`,
    version: 1,
    data: {} as never,
    userId: 'u',
    orgId,
    timestamp: new Date().toISOString(),
  } as CrmEvent;
}

describe('InProcessBus', () => {
  it("delivers an event only to its org's subscribers, in publish order, filtered", async () => {
    const bus = new InProcessBus();
    const controller = new AbortController();
    const acme = bus.subscribe('acme', { signal: controller.signal });
    const acmeLeads = bus.subscribe('acme', { signal: controller.signal, filter: (e) => e.module === 'leads' });
    const globex = bus.subscribe('globex', { signal: controller.signal });
    const first = event('acme');
    const second = event('acme', 'leads');
    bus.publish(first);
    bus.publish(event('other'));
    bus.publish(second);
    expect((await acme.next()).value).toBe(first);
    expect((await acme.next()).value).toBe(second);
    expect((await acmeLeads.next()).value).toBe(second);
    const globexNext = globex.next();
    const third = event('globex');
    bus.publish(third);
    expect((await globexNext).value).toBe(third);
    expect(Object.isFrozen(third)).toBe(true);
    controller.abort();
    expect(bus.listenerCount()).toBe(0);
  });

  it('removes a subscriber on abort, on return, and never adds one for an aborted signal', async () => {
    const bus = new InProcessBus();
    const a = new AbortController();
    const waiting = bus.subscribe('acme', { signal: a.signal });
    const returned = bus.subscribe('acme', { signal: new AbortController().signal });
    expect(bus.listenerCount('acme')).toBe(2);
    const pending = waiting.next();
    a.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(bus.listenerCount('acme')).toBe(1);
    await returned.return?.();
    expect(bus.listenerCount('acme')).toBe(0);
    const dead = new AbortController();
    dead.abort();
    const never = bus.subscribe('acme', { signal: dead.signal });
    expect(bus.listenerCount()).toBe(0);
    expect((await never.next()).done).toBe(true);
    expect(never[Symbol.asyncIterator]()).toBe(never);
  });

  it('detaches a subscriber whose buffer overflows, telling it where to resume, and keeps others going', async () => {
    const bus = new InProcessBus({ maxBuffered: 2 });
    const controller = new AbortController();
    const slow = bus.subscribe('acme', { signal: controller.signal });
    const fast = bus.subscribe('acme', { signal: controller.signal });
    const events = [event('acme'), event('acme'), event('acme')];
    bus.publish(events[0]!);
    expect((await fast.next()).value).toBe(events[0]);
    bus.publish(events[1]!);
    expect((await fast.next()).value).toBe(events[1]);
    bus.publish(events[2]!);
    expect((await fast.next()).value).toBe(events[2]);
    expect(bus.listenerCount('acme')).toBe(1);
    const error = await slow.next().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BusOverflow);
    expect((error as BusOverflow).resumeAfterSeq).toBe(events[0]!.seq - 1);
    controller.abort();
  });
});

describe('InProcessBus subscriptions written directly', () => {
  it('hand events to the writer in order until it pauses, and answer stop once they end (end, abort)', async () => {
    const bus = new InProcessBus();
    const controller = new AbortController();
    const direct = bus.subscribe('acme', { signal: controller.signal });
    const received: unknown[] = [];
    const [first, second, third] = [event('acme'), event('acme'), event('acme')];
    const paused = direct.deliver((e) => {
      received.push(e);
      return e === second ? 'pause' : 'sent';
    });
    bus.publish(first);
    bus.publish(second);
    expect(await paused).toBe('pause');
    expect(received).toEqual([first, second]);
    bus.publish(third);
    expect(direct.queued).toBe(1);
    expect((await direct.next()).value).toBe(third);
    const stopped = direct.deliver(() => 'sent');
    controller.abort();
    expect(await stopped).toBe('stop');
    expect(await direct.deliver(() => 'sent')).toBe('stop');

    const other = bus.subscribe('acme', {});
    const pending = other.next();
    other.end();
    expect(await pending).toEqual({ value: undefined, done: true });
    const failing = bus.subscribe('acme', {});
    const thrown = failing.deliver(() => {
      throw new Error('socket gone');
    });
    bus.publish(event('acme'));
    expect(await thrown).toBe('stop');
    failing.end();
    expect(bus.listenerCount()).toBe(0);
  });
});
