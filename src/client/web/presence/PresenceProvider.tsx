import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import type { PresenceEntry, Viewer } from '../../../shared/presence.ts';
import type { ModuleName } from '../../../shared/modules.ts';
import { useConnection, useConnectionSnapshot } from '../TandemProvider.tsx';
import { trpc } from '../trpc.ts';

interface PresenceValue {
  /** Everyone of the org the server has told us about, by user id (offline ones too: their names are still useful). */
  entries: ReadonlyMap<string, PresenceEntry>;
}

const PresenceContext = createContext<PresenceValue>({ entries: new Map() });

const HEARTBEAT_MS = 30_000;
const IDLE_AFTER_MS = 5 * 60_000;

/**
 * The org's presence: who is online or idle, kept from `presence.onChange` (the current
 * entries first, then each change; again from the start after a reconnect). Also tells the
 * server whether this tab is in use, with a heartbeat.
 */
export function PresenceProvider({ children }: { children: ReactNode }) {
  const [entries, setEntries] = useState<ReadonlyMap<string, PresenceEntry>>(new Map());
  trpc.presence.onChange.useSubscription(undefined, {
    onData: ({ data }) => setEntries((current) => new Map(current).set(data.userId, data)),
  });

  const heartbeat = trpc.presence.heartbeat.useMutation();
  const send = useRef(heartbeat.mutate);
  send.current = heartbeat.mutate;
  const connection = useConnection();
  useEffect(() => {
    let lastActivity = Date.now();
    const active = () => (lastActivity = Date.now());
    // Only over the socket, or over HTTP while polling: an HTTP heartbeat keeps an HTTP-only
    // client present for a minute, so one sent while the socket is still connecting would
    // keep this user "online" for a minute after they leave.
    const canBeat = () => connection.state === 'open' || connection.state === 'fallback-polling';
    const beat = () => {
      if (canBeat()) send.current({ active: !document.hidden && Date.now() - lastActivity < IDLE_AFTER_MS });
    };
    let was = canBeat();
    const unsubscribe = connection.subscribe(() => {
      if (canBeat() && !was) beat();
      was = canBeat();
    });
    const events = ['keydown', 'pointerdown', 'pointermove', 'focus'] as const;
    for (const name of events) window.addEventListener(name, active, { passive: true });
    const timer = setInterval(beat, HEARTBEAT_MS);
    beat();
    return () => {
      unsubscribe();
      clearInterval(timer);
      for (const name of events) window.removeEventListener(name, active);
    };
  }, [connection]);

  return <PresenceContext.Provider value={{ entries }}>{children}</PresenceContext.Provider>;
}

export function usePresence(): PresenceValue {
  return useContext(PresenceContext);
}

/** What presence can be about: a record of the six modules, or a conversation (who reads it, who types a reply). */
export type PresenceModule = ModuleName | 'conversations';

export interface RecordActivityState {
  viewers: Viewer[];
  /** Field (or '' for the record as a whole) → those typing there. */
  typing: ReadonlyMap<string, Viewer[]>;
}

/**
 * Registers this tab as viewing a record while mounted (again after each reconnect: viewing
 * ends with the connection) and follows who else views it and who types in which field.
 */
export function useRecordActivity(module: PresenceModule, recordId: string, myId: string): RecordActivityState {
  const [viewers, setViewers] = useState<Viewer[]>([]);
  const [typers, setTypers] = useState<ReadonlyMap<string, { name: string; field: string }>>(new Map());
  const { state } = useConnectionSnapshot();
  const connection = useConnection();
  const view = trpc.presence.view.useMutation();
  const leave = trpc.presence.leave.useMutation();
  const calls = useRef({ view: view.mutate, leave: leave.mutate });
  calls.current = { view: view.mutate, leave: leave.mutate };

  useEffect(() => {
    if (state !== 'open') return;
    calls.current.view({ module, recordId });
    return () => {
      // Without the socket there is nothing to leave: viewing ended with the connection.
      if (connection.state === 'open') calls.current.leave({ module, recordId });
    };
  }, [module, recordId, state, connection]);

  trpc.presence.onRecord.useSubscription(
    { module, recordId },
    {
      onStarted: () => setTypers(new Map()),
      onData: ({ data }) => {
        if (data.type === 'viewers') setViewers(data.viewers.filter((viewer) => viewer.userId !== myId));
        else if (data.userId !== myId) {
          setTypers((current) => {
            const next = new Map(current);
            if (data.typing) next.set(data.userId, { name: data.name, field: data.field ?? '' });
            else next.delete(data.userId);
            return next;
          });
        }
      },
    },
  );

  const typing = new Map<string, Viewer[]>();
  for (const [userId, { name, field }] of typers) typing.set(field, [...(typing.get(field) ?? []), { userId, name }]);
  return { viewers, typing };
}

/**
 * Tells the others that this tab is typing in a field (or, with '', in the record as a
 * whole: a reply): `start` at most every 2 s while keys are pressed (the server clears it
 * after 3 s without renewal), `stop` when done.
 */
export function useTypingReporter(module: PresenceModule, recordId: string) {
  const start = trpc.typing.start.useMutation();
  const stop = trpc.typing.stop.useMutation();
  const last = useRef<{ field: string; at: number } | null>(null);
  return {
    typing(field: string) {
      const now = Date.now();
      if (last.current?.field === field && now - last.current.at < 2_000) return;
      last.current = { field, at: now };
      start.mutate({ module, recordId, ...(field ? { field } : {}) });
    },
    done(field: string) {
      if (!last.current) return;
      last.current = null;
      stop.mutate({ module, recordId, ...(field ? { field } : {}) });
    },
  };
}
