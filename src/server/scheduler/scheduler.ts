import { sweepAlerts } from '../alerts/rules.ts';
import { dueMissedCalls, markCallMissed } from '../comms/calls.ts';
import type { AppDeps } from '../context.ts';
import { dueReminders, fireReminder } from './reminders.ts';

export interface SchedulerOptions {
  /** How often due work is looked for: missed calls and reminders are at most this late. */
  intervalMs: number;
  /** How often time-based alerts are looked for. */
  alertSweepMs: number;
  now?: () => Date;
}

export interface Scheduler {
  /** One pass now (after the one running, if any). */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Work that time makes due: calls that rang out, appointment reminders, alerts. Its
 * state is in the database, not in timers: after a restart, or on every node at
 * once, each item is done exactly once, because each is re-checked and recorded
 * under its org's lock in the transaction that emits its event.
 */
export function startScheduler(deps: Pick<AppDeps, 'db' | 'bus' | 'metrics' | 'logger'>, options: SchedulerOptions): Scheduler {
  const now = options.now ?? (() => new Date());
  let lastSweep = 0;
  let running: Promise<void> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const pass = async () => {
    const at = now();
    for (const call of await dueMissedCalls(deps, at)) await markCallMissed(deps, call.orgId, call.id, at);
    for (const appointment of await dueReminders(deps.db, at)) await fireReminder(deps, appointment, at);
    if (at.getTime() - lastSweep >= options.alertSweepMs) {
      lastSweep = at.getTime();
      await sweepAlerts(deps, at);
    }
  };
  const runOnce = () => {
    running = running.then(pass).catch((error: unknown) => {
      if (!stopped) deps.logger.error('scheduled work failed', { err: error });
    });
    return running;
  };
  const tick = () => {
    void runOnce().then(() => {
      if (stopped) return;
      timer = setTimeout(tick, options.intervalMs);
      timer.unref?.();
    });
  };
  tick();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
