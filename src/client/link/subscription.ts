import { TRPCClientError, type Operation, type OperationLink, type OperationResultEnvelope } from '@trpc/client';
import { observable, type Unsubscribable } from '@trpc/server/observable';
import type { AppRouter } from '../../server/routers/_app.ts';
import type { CrmEvent, ResyncSignal } from '../../shared/events.ts';
import { isSocketDown, type ConnectionTracker } from './connection.ts';
import { logFilterOf } from './log-filter.ts';

export interface TransportContext {
  connection: ConnectionTracker;
  /** The link over the current WebSocket client and that client's generation (it changes on `reconnect()`). */
  overWs(): { link: OperationLink<AppRouter>; generation: number };
  overHttp: OperationLink<AppRouter>;
  pollIntervalMs: number;
}

type Envelope = OperationResultEnvelope<unknown, TRPCClientError<AppRouter>>;

/** Ids for the operations this link starts itself, apart from the client's own operation ids. */
let innerOperationId = 1_000_000_000;
const POLL_PAGE = 500;

/**
 * One logical subscription that survives transport switches. It starts from a known
 * position in the log (the given `lastEventId`, or the head of the log), keeps the id
 * of the last event it delivered, and each time the transport changes it restarts
 * there: over the WebSocket (the server replays, then streams) or by polling
 * `events.since` over HTTP. Events arrive once each, in log order.
 */
export function resumableSubscription(context: TransportContext, op: Operation) {
  return observable<Envelope, TRPCClientError<AppRouter>>((observer) => {
    const filter = logFilterOf(op.path, op.input);
    const input = (op.input ?? {}) as Record<string, unknown>;
    let lastEventId = typeof input.lastEventId === 'string' ? input.lastEventId : undefined;
    let transport: string | undefined;
    let inner: Unsubscribable | undefined;
    let pollTimer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let started = false;
    let positioned = false;

    const deliver = (id: string, data: unknown) => {
      lastEventId = id;
      observer.next({ result: { type: 'data', id, data: { id, data } } });
    };
    const markStarted = () => {
      if (started) return;
      started = true;
      observer.next({ result: { type: 'started' } });
    };
    const stopTransport = () => {
      inner?.unsubscribe();
      inner = undefined;
      clearTimeout(pollTimer);
      pollTimer = undefined;
    };
    const stop = () => {
      stopped = true;
      stopTransport();
      unsubscribeStatus();
    };
    const fail = (error: TRPCClientError<AppRouter>) => {
      stop();
      observer.error(error);
    };

    const startWs = (link: OperationLink<AppRouter>) => {
      const wsOp = { ...op, id: innerOperationId++, input: { ...input, ...(lastEventId ? { lastEventId } : {}) } };
      const mine = transport;
      inner = link({ op: wsOp, next: () => observable(() => undefined) }).subscribe({
        next(envelope) {
          const result = envelope.result as { type?: string; id?: string; data?: { id: string; data: unknown } };
          if (result.type === 'started') markStarted();
          else if (result.type === 'data' && result.id !== undefined && result.data) deliver(result.id, result.data.data);
          else if (result.type === undefined || result.type === 'data') observer.next(envelope);
        },
        error: fail,
        complete() {
          // The server ended it (not a transport switch, which unsubscribes first).
          if (!stopped && transport === mine && context.connection.state === 'open') {
            stop();
            observer.complete();
          }
        },
      });
    };

    const poll = async (mine: string) => {
      try {
        let more = true;
        while (more && !stopped && transport === mine) {
          const { poll: target, ...logFilter } = filter ?? {};
          const page = await query<{ events: CrmEvent[]; more?: boolean; resync: ResyncSignal | null }>(context, op, target?.path ?? 'events.since', {
            lastEventId,
            ...logFilter,
            limit: POLL_PAGE,
          });
          markStarted();
          if (stopped || transport !== mine) return;
          if (page.resync) deliver(page.resync.lastEventId, page.resync);
          for (const event of page.events) deliver(target ? target.trackedIdOf(event) : String(event.seq), event);
          // `events.since` says when it cut a page short (by bytes); other logs answer full pages while there is more.
          more = page.more ?? page.events.length === POLL_PAGE;
        }
      } catch (cause) {
        const error = TRPCClientError.from(cause as Error) as TRPCClientError<AppRouter>;
        // An answer from the server ends the subscription; network trouble is retried.
        if (error.data) return fail(error);
      }
      if (!stopped && transport === mine) pollTimer = setTimeout(() => void poll(mine), context.pollIntervalMs);
    };

    const choose = () => {
      const state = context.connection.state;
      if (stopped || !positioned || state === 'closed') return;
      // Subscriptions that the log cannot serve wait for the socket.
      const ws = isSocketDown(state) && filter ? undefined : context.overWs();
      const wanted = ws ? `ws:${ws.generation}` : 'poll';
      if (wanted === transport) return;
      stopTransport();
      transport = wanted;
      if (ws) startWs(ws.link);
      else void poll(wanted);
    };
    const unsubscribeStatus = context.connection.subscribe(choose);
    const begin = () => {
      positioned = true;
      choose();
    };
    if (lastEventId !== undefined || !filter) begin();
    else {
      // "Only new events" is pinned to the head of the log now, so that a later switch
      // of transport resumes from a position instead of losing what happened in between.
      void retryOnNetworkError(
        () => query<{ lastEventId: string }>(context, op, 'events.head', undefined),
        () => stopped,
        context.pollIntervalMs,
      ).then((head) => {
        if (!head || stopped) return;
        lastEventId = head.lastEventId;
        begin();
      }, fail);
    }

    return () => stop();
  });
}

/** A query over whichever transport is up. */
function query<T>(context: TransportContext, parent: Operation, path: string, input: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const op: Operation = { id: innerOperationId++, type: 'query', path, input, context: parent.context, signal: null };
    const link = context.connection.state === 'open' ? context.overWs().link : context.overHttp;
    link({ op, next: () => observable(() => undefined) }).subscribe({
      next: (envelope) => resolve((envelope.result as { data: T }).data),
      error: reject,
    });
  });
}

/** Retries `task` on network errors until it succeeds or `isCancelled()`; rejects on errors the server answered. */
async function retryOnNetworkError<T>(task: () => Promise<T>, isCancelled: () => boolean, delayMs: number): Promise<T | undefined> {
  for (;;) {
    if (isCancelled()) return undefined;
    try {
      return await task();
    } catch (cause) {
      const error = TRPCClientError.from(cause as Error);
      if (error.data) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
