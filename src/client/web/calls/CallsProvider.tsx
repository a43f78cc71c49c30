import { useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { Call } from '../../../shared/comms.ts';
import { errorCode, messageOf } from '../modules/api.ts';
import { useSession } from '../session/SessionContext.tsx';
import { trpc } from '../trpc.ts';
import { applyCall } from './cache.ts';
import { useRetryAfterServerError } from '../realtime/useRetryAfterServerError.ts';

/** The recent calls the app keeps (the banner's ringing ones are among them). */
export const RECENT_CALLS_INPUT = { limit: 50 };
/** How long "Bob answered" stays where the ringing call was. */
export const ENDED_NOTICE_MS = 5_000;
/**
 * A call still "ringing" this long after its ring time is over is not shown: the server marks
 * it missed within a scheduler pass, and a call whose event never comes (a stopped scheduler)
 * must not ring on screen forever. The margin covers the clocks of browser and server.
 */
export const RING_GRACE_MS = 10_000;

export interface EndedNotice {
  call: Call;
  /** `answered` by someone else, or by you; `missed`. */
  outcome: 'answered-by-other' | 'answered-by-you' | 'missed';
}

interface CallsValue {
  /** Calls ringing now, oldest first (the one to take first on top). */
  ringing: Call[];
  ended: EndedNotice[];
  answer(id: string): void;
  /** The call being answered by this tab. */
  answering: string | null;
  /** Why an answer failed, by call id. */
  errors: ReadonlyMap<string, string>;
  dismiss(id: string): void;
}

const CallsContext = createContext<CallsValue | null>(null);

/**
 * The org's calls as they happen (`calls.onChange`, over the socket or by polling the log):
 * keeps the cached call lists current and says which calls ring now and which just
 * stopped. Mount once per session: the incoming-call banner shows on every page.
 */
export function CallsProvider({ children }: { children: ReactNode }) {
  const { user } = useSession();
  const queryClient = useQueryClient();
  const utils = trpc.useUtils();
  const recent = trpc.calls.list.useQuery(RECENT_CALLS_INPUT, { staleTime: 60_000 });
  const [ended, setEnded] = useState<EndedNotice[]>([]);
  const [errors, setErrors] = useState<ReadonlyMap<string, string>>(new Map());
  const ringingIds = useRef(new Set<string>());
  ringingIds.current = new Set((recent.data?.items ?? []).filter((call) => call.status === 'ringing').map((call) => call.id));

  const startedOnce = useRef(false);
  const subscription = trpc.calls.onChange.useSubscription(undefined, {
    onStarted() {
      if (startedOnce.current) return;
      startedOnce.current = true;
      void utils.calls.list.invalidate();
    },
    onData({ data: item }) {
      if (!('data' in item)) {
        // RESYNC: the stream could not resume exactly; the lists are the truth.
        void utils.calls.list.invalidate();
        return;
      }
      const { call } = item.data;
      // Only a call this tab showed ringing gets an "ended" notice.
      const wasRinging = ringingIds.current.has(call.id);
      applyCall(queryClient, call);
      if (!wasRinging || call.status === 'ringing') return;
      const outcome: EndedNotice['outcome'] = call.status === 'missed' ? 'missed' : call.answeredById === user.id ? 'answered-by-you' : 'answered-by-other';
      setEnded((current) => [...current.filter((notice) => notice.call.id !== call.id), { call, outcome }]);
    },
  });
  useRetryAfterServerError(subscription, { onRetry: () => (startedOnce.current = false) });

  // Each notice goes by itself.
  useEffect(() => {
    if (ended.length === 0) return;
    const timer = setTimeout(() => setEnded((current) => current.slice(1)), ENDED_NOTICE_MS);
    return () => clearTimeout(timer);
  }, [ended]);

  const [answering, setAnswering] = useState<string | null>(null);
  const answerMutation = trpc.calls.answer.useMutation();
  const { mutate } = answerMutation;
  const answer = useCallback(
    (id: string) => {
      setAnswering(id);
      setErrors((current) => {
        const next = new Map(current);
        next.delete(id);
        return next;
      });
      mutate(
        { id },
        {
          onSuccess: (call) => {
            applyCall(queryClient, call);
            // Whichever comes first, this answer or the stream's event: one notice.
            setEnded((current) => [...current.filter((notice) => notice.call.id !== call.id), { call, outcome: 'answered-by-you' }]);
          },
          onError: (failure) => {
            const message = errorCode(failure) === 'CONFLICT' ? `Could not answer: ${messageOf(failure).replace(/\.?$/, '.')}` : `Could not answer the call: ${messageOf(failure)}`;
            setErrors((current) => new Map(current).set(id, message));
            // The list learns who took it (or that it was missed).
            void utils.calls.list.invalidate();
          },
          onSettled: () => setAnswering((current) => (current === id ? null : current)),
        },
      );
    },
    [mutate, queryClient, utils],
  );
  const dismiss = useCallback((id: string) => {
    setEnded((current) => current.filter((notice) => notice.call.id !== id));
    setErrors((current) => {
      const next = new Map(current);
      next.delete(id);
      return next;
    });
  }, []);

  const [now, setNow] = useState(Date.now);
  const ringing = useMemo(
    () => (recent.data?.items ?? []).filter((call) => call.status === 'ringing' && Date.parse(call.ringUntil) + RING_GRACE_MS > now).reverse(),
    [recent.data, now],
  );
  // Look again when the first of them is over.
  useEffect(() => {
    if (ringing.length === 0) return;
    const next = Math.min(...ringing.map((call) => Date.parse(call.ringUntil) + RING_GRACE_MS));
    const timer = setTimeout(() => setNow(Date.now()), Math.max(0, next - Date.now()) + 50);
    return () => clearTimeout(timer);
  }, [ringing]);
  const value = useMemo<CallsValue>(() => ({ ringing, ended, answer, answering, errors, dismiss }), [ringing, ended, answer, answering, errors, dismiss]);
  return <CallsContext.Provider value={value}>{children}</CallsContext.Provider>;
}

export function useCalls(): CallsValue {
  const value = useContext(CallsContext);
  if (!value) throw new Error('useCalls outside CallsProvider');
  return value;
}
