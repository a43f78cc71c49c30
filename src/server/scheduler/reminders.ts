import type { AppDeps } from '../context.ts';
import { commitChange } from '../events/commit.ts';

type Deps = Pick<AppDeps, 'db' | 'bus' | 'metrics'>;

interface DueAppointment {
  id: string;
  orgId: string;
  startsAt: Date;
}

const ACTIVE = ['scheduled', 'confirmed'];

/** Appointments whose reminder time has come, that have not started and whose reminder for this start time has not fired. */
export async function dueReminders(db: Deps['db'], now: Date, limit = 100): Promise<DueAppointment[]> {
  return db.$queryRaw<DueAppointment[]>`
    SELECT a.id, a."orgId", a."startsAt" FROM "Appointment" a
    WHERE a."reminderMinutes" IS NOT NULL
      AND a.status IN ('scheduled', 'confirmed')
      AND a."startsAt" > ${now}
      AND a."startsAt" - make_interval(mins => a."reminderMinutes") <= ${now}
      AND NOT EXISTS (SELECT 1 FROM "AppointmentReminder" r WHERE r."appointmentId" = a.id AND r."startsAt" = a."startsAt")
    ORDER BY a."startsAt"
    LIMIT ${limit}`;
}

/**
 * Fires the appointment's reminder for its current start time: `appointment.reminder`
 * to the org and a notification for its assignee (or creator). The row keyed by
 * appointment and start time, written in the same transaction under the org's lock,
 * makes it once per start time across restarts and nodes; moving the appointment
 * gives it a new start time, hence a new reminder.
 */
export async function fireReminder(deps: Deps, due: DueAppointment, now: Date): Promise<boolean> {
  return commitChange(deps, due.orgId, async (tx) => {
    const appointment = await tx.appointment.findFirst({ where: { id: due.id, orgId: due.orgId } });
    if (
      !appointment ||
      appointment.reminderMinutes == null ||
      !ACTIVE.includes(appointment.status) ||
      appointment.startsAt <= now ||
      appointment.startsAt.getTime() - appointment.reminderMinutes * 60_000 > now.getTime()
    ) {
      return { result: false };
    }
    const key = { appointmentId: appointment.id, startsAt: appointment.startsAt };
    if (await tx.appointmentReminder.findUnique({ where: { appointmentId_startsAt: key } })) return { result: false };
    await tx.appointmentReminder.create({ data: { ...key, orgId: appointment.orgId, firedAt: now } });
    const userId = appointment.assigneeId ?? appointment.createdById;
    const minutes = Math.max(0, Math.round((appointment.startsAt.getTime() - now.getTime()) / 60_000));
    return {
      result: true,
      event: {
        orgId: appointment.orgId,
        module: 'reminders',
        action: 'appointment.reminder',
        recordId: appointment.id,
        version: appointment.version,
        userId: null,
        data: {
          appointmentId: appointment.id,
          title: appointment.title,
          startsAt: appointment.startsAt.toISOString(),
          reminderMinutes: appointment.reminderMinutes,
          notifiedUserIds: [userId],
        },
        notifications: [
          {
            userId,
            kind: 'appointment_reminder',
            title: `${appointment.title} starts in ${minutes} min`,
            body: appointment.location,
            module: 'appointments',
            recordId: appointment.id,
          },
        ],
      },
    };
  });
}
