import { router } from '../trpc.ts';
import { alertsRouter } from './alerts.ts';
import { authRouter } from './auth.ts';
import { callsRouter } from './calls.ts';
import { teamsRouter } from './teams.ts';
import { carriersRouter } from './carriers.ts';
import { conversationsRouter, messagesRouter } from './conversations.ts';
import { dashboardRouter } from './dashboard.ts';
import { eventsRouter } from './events.ts';
import { invitationsRouter } from './invitations.ts';
import { meRouter } from './me.ts';
import { notificationsRouter } from './notifications.ts';
import { numbersRouter } from './numbers.ts';
import { usersRouter } from './users.ts';
import { webhooksRouter } from './webhooks.ts';
import { presenceRouter, typingRouter } from './presence.ts';
import { createRecordRouter } from './records.ts';

export const appRouter = router({
  alerts: alertsRouter,
  auth: authRouter,
  calls: callsRouter,
  teams: teamsRouter,
  carriers: carriersRouter,
  conversations: conversationsRouter,
  messages: messagesRouter,
  dashboard: dashboardRouter,
  events: eventsRouter,
  invitations: invitationsRouter,
  me: meRouter,
  notifications: notificationsRouter,
  numbers: numbersRouter,
  presence: presenceRouter,
  typing: typingRouter,
  users: usersRouter,
  webhooks: webhooksRouter,
  jobs: createRecordRouter('jobs'),
  escrows: createRecordRouter('escrows'),
  listings: createRecordRouter('listings'),
  clients: createRecordRouter('clients'),
  leads: createRecordRouter('leads'),
  appointments: createRecordRouter('appointments'),
});

export type AppRouter = typeof appRouter;
