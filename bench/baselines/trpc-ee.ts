/**
 * Plain tRPC v11 baseline, the pattern of its docs: one EventEmitter, every
 * subscription an `on(ee, 'event')` loop that filters by org, default encoder.
 * Same procedure names and wire protocol as Tandem (`events.onAny`, `leads.create`),
 * token in `connectionParams`.
 *
 *   tsx bench/baselines/trpc-ee.ts [port]
 */
import { EventEmitter, on } from 'node:events';
import { initTRPC, TRPCError, tracked } from '@trpc/server';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { WebSocketServer } from 'ws';
import { listening, makeEvent, orgOfToken } from './event.ts';

const port = Number(process.argv[2] ?? 0);
const t = initTRPC.context<{ org: string | null }>().create();
const authed = t.procedure.use(({ ctx, next }) => {
  if (!ctx.org) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { org: ctx.org } });
});
const ee = new EventEmitter();
ee.setMaxListeners(0);

const appRouter = t.router({
  events: t.router({
    onAny: authed.subscription(async function* ({ ctx, signal }) {
      for await (const [event] of on(ee, 'event', { signal })) {
        const e = event as { orgId: string; seq: number };
        if (e.orgId === ctx.org) yield tracked(String(e.seq), e);
      }
    }),
  }),
  leads: t.router({
    create: authed
      .input((value) => value as { name: string })
      .mutation(({ ctx, input }) => {
        const event = makeEvent(ctx.org, String(input.name));
        ee.emit('event', event);
        return event.data;
      }),
  }),
});

const wss = new WebSocketServer({ port, host: '127.0.0.1' });
applyWSSHandler({
  wss,
  router: appRouter,
  createContext: ({ info }) => ({ org: orgOfToken(info.connectionParams?.token) }),
  keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 },
});
wss.on('listening', () => listening((wss.address() as { port: number }).port));
