import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createApp, type App, type AppConfig } from '../src/server/bootstrap.ts';
import { createLogger } from '../src/server/logger.ts';
import { createRecord, updateRecord } from '../src/server/records/service.ts';
import { modules } from '../src/shared/modules.ts';
import { createTestApp, TEST_TOKEN_SECRET } from './helpers/app.ts';

const dataDir = await mkdtemp(join(tmpdir(), 'tandem-reminders-'));
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** An embedded database on disk, so that a second app is the same server restarted. */
const config: Partial<AppConfig> = { DATA_DIR: dataDir, SCHEDULER_INTERVAL_MS: 50, DATABASE_URL: undefined };

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

async function remindersOf(app: App, appointmentId: string) {
  const events = await app.deps.db.event.findMany({ where: { module: 'reminders', recordId: appointmentId }, orderBy: { seq: 'asc' } });
  return events.map((event) => (event.data as { startsAt: string }).startsAt);
}

describe('appointment reminders', () => {
  it('fire once per start time: not again after a restart, again when the appointment moves', async () => {
    const first = await createTestApp({ config });
    const alice = first.users['alice@acme.test'];
    const bob = first.users['bob@acme.test'];
    // Starts in 50 s with a 1-minute reminder: due now.
    const appointment = await createRecord({ deps: first.deps, user: alice }, modules.appointments, {
      title: 'Signing',
      startsAt: inSeconds(50),
      endsAt: inSeconds(1800),
      reminderMinutes: 1,
      assigneeId: bob.id,
    });
    const later = await createRecord({ deps: first.deps, user: alice }, modules.appointments, {
      title: 'Next week',
      startsAt: inSeconds(7 * 86_400),
      endsAt: inSeconds(7 * 86_400 + 1800),
      reminderMinutes: 15,
    });
    const cancelled = await createRecord({ deps: first.deps, user: alice }, modules.appointments, {
      title: 'Called off',
      startsAt: inSeconds(50),
      endsAt: inSeconds(1800),
      reminderMinutes: 1,
      status: 'cancelled',
    });
    await vi.waitFor(async () => expect(await remindersOf(first.app, String(appointment.id))).toHaveLength(1), { timeout: 5_000 });
    const bobNotes = await (await first.caller('bob@acme.test')).notifications.list();
    expect(bobNotes.items.map((note) => [note.kind, note.recordId])).toEqual([['appointment_reminder', appointment.id]]);
    await first[Symbol.asyncDispose]();

    // The same database, a new process: its scheduler finds the reminder already fired.
    const second = await createApp({ ...config, TOKEN_SECRET: TEST_TOKEN_SECRET, TOKEN_TTL_SECONDS: 3600, SEED_DEMO: false } as AppConfig, createLogger('silent'));
    try {
      await second.scheduler.runOnce();
      await second.scheduler.runOnce();
      expect(await remindersOf(second, String(appointment.id))).toHaveLength(1);

      // Moved: a new start time is a new reminder, once.
      const movedTo = inSeconds(55);
      await updateRecord({ deps: second.deps, user: alice }, modules.appointments, {
        id: String(appointment.id),
        expectedVersion: Number(appointment.version),
        patch: { startsAt: movedTo },
      });
      await vi.waitFor(async () => expect(await remindersOf(second, String(appointment.id))).toEqual([appointment.startsAt, movedTo]), { timeout: 5_000 });
      await second.scheduler.runOnce();
      expect(await remindersOf(second, String(appointment.id))).toHaveLength(2);
      // Moved far out: not due, nothing fires.
      await updateRecord({ deps: second.deps, user: alice }, modules.appointments, {
        id: String(appointment.id),
        expectedVersion: Number(appointment.version) + 1,
        patch: { startsAt: inSeconds(3 * 86_400), endsAt: inSeconds(3 * 86_400 + 600) },
      });
      await second.scheduler.runOnce();
      expect(await remindersOf(second, String(appointment.id))).toHaveLength(2);
      expect(await remindersOf(second, String(later.id))).toEqual([]);
      expect(await remindersOf(second, String(cancelled.id))).toEqual([]);
      expect(await second.deps.db.notification.count({ where: { kind: 'appointment_reminder', userId: bob.id } })).toBe(2);
    } finally {
      await second.close();
    }
  });
});
