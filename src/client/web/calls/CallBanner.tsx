import type { Call } from '../../../shared/comms.ts';
import { useUserName } from '../people/people.ts';
import { trpc } from '../trpc.ts';
import { useCalls, type EndedNotice } from './CallsProvider.tsx';

/** The caller as people know them: the client's name when the number is a client's, else the number. */
export function useCallerName(call: Pick<Call, 'clientId' | 'fromNumber'>): string {
  const client = trpc.clients.byId.useQuery({ id: call.clientId ?? '' }, { enabled: call.clientId !== null, staleTime: 5 * 60_000, retry: false });
  const record = client.data as { firstName?: string; lastName?: string } | undefined;
  const name = record ? [record.firstName, record.lastName].filter(Boolean).join(' ') : '';
  return name || call.fromNumber;
}

export function CallerName({ call }: { call: Pick<Call, 'clientId' | 'fromNumber'> }) {
  return <>{useCallerName(call)}</>;
}

function PhoneIcon() {
  return (
    <svg className="call-icon" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
      <path
        d="M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a1 1 0 0 1-1 1A16 16 0 0 1 4 5a1 1 0 0 1 1-1z"
        fill="none"
        stroke="currentColor"
        strokeWidth="1.8"
        strokeLinejoin="round"
      />
    </svg>
  );
}

/**
 * Calls ringing now, over every page (fixed at the top, so nothing on the page moves), each
 * with an Answer button; when one stops ringing, a short notice says who took it. The
 * region exists before anything rings, so screen readers announce each call.
 */
export function CallBanner() {
  const { ringing, ended, errors, answer, answering, dismiss } = useCalls();
  const ringingIds = new Set(ringing.map((call) => call.id));
  const failed = [...errors.entries()].filter(([id]) => !ringingIds.has(id));
  return (
    <section className="call-banner" aria-label="Calls" data-testid="call-banner">
      <div aria-live="assertive" aria-atomic="false">
        {ringing.map((call) => (
          <RingingCall key={call.id} call={call} answering={answering === call.id} error={errors.get(call.id)} onAnswer={() => answer(call.id)} />
        ))}
      </div>
      <div role="status" aria-live="polite">
        {failed.map(([id, message]) => (
          <p key={id} className="call-notice call-notice-error" data-testid="call-error">
            {message}
            <button type="button" className="toast-close" aria-label="Dismiss" onClick={() => dismiss(id)}>
              <span aria-hidden="true">×</span>
            </button>
          </p>
        ))}
        {ended
          .filter((notice) => !errors.has(notice.call.id))
          .map((notice) => (
            <EndedCall key={notice.call.id} notice={notice} onDismiss={() => dismiss(notice.call.id)} />
          ))}
      </div>
    </section>
  );
}

function RingingCall({ call, answering, error, onAnswer }: { call: Call; answering: boolean; error: string | undefined; onAnswer: () => void }) {
  const caller = useCallerName(call);
  return (
    <div className="incoming-call" data-testid="incoming-call" data-id={call.id}>
      <PhoneIcon />
      <p className="incoming-call-text">
        <strong>Incoming call</strong> from <span data-testid="caller">{caller}</span>
        {caller !== call.fromNumber ? <span className="muted"> · {call.fromNumber}</span> : null}
      </p>
      {error ? (
        <span className="error small" role="alert">
          {error}
        </span>
      ) : null}
      <button type="button" className="button primary small" onClick={onAnswer} disabled={answering} aria-label={`Answer the call from ${caller}`}>
        {answering ? 'Answering…' : 'Answer'}
      </button>
    </div>
  );
}

function EndedCall({ notice, onDismiss }: { notice: EndedNotice; onDismiss: () => void }) {
  const caller = useCallerName(notice.call);
  const who = useUserName(notice.call.answeredById);
  const text =
    notice.outcome === 'missed'
      ? `Missed call from ${caller}`
      : notice.outcome === 'answered-by-you'
        ? `You answered the call from ${caller}`
        : `${who} answered the call from ${caller}`;
  return (
    <p className={`call-notice call-notice-${notice.outcome}`} data-testid="call-ended">
      {text}
      <button type="button" className="toast-close" aria-label="Dismiss" onClick={onDismiss}>
        <span aria-hidden="true">×</span>
      </button>
    </p>
  );
}
