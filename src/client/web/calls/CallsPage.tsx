import { useId, useState } from 'react';
import type { Call } from '../../../shared/comms.ts';
import { formatDateTime } from '../modules/format.ts';
import { useUserName } from '../people/people.ts';
import { trpc } from '../trpc.ts';
import { useCallerName } from './CallBanner.tsx';
import { RECENT_CALLS_INPUT, useCalls } from './CallsProvider.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';

const statusText = { ringing: 'Ringing', answered: 'Answered', missed: 'Missed' } as const;

/** Recent calls, newest first, missed ones highlighted; live from the app's call stream. */
export function CallsPage() {
  const [missedOnly, setMissedOnly] = useState(false);
  const filterId = useId();
  const query = trpc.calls.list.useQuery(missedOnly ? { ...RECENT_CALLS_INPUT, status: 'missed' } : RECENT_CALLS_INPUT);
  const items = query.data?.items ?? [];
  return (
    <section aria-labelledby="calls-heading">
      <div className="page-header">
        <h1 id="calls-heading">Calls</h1>
      </div>
      <div className="filters">
        <input id={filterId} type="checkbox" checked={missedOnly} onChange={(event) => setMissedOnly(event.target.checked)} />
        <label htmlFor={filterId}>Missed only</label>
      </div>
      <ErrorNote error={query.error} prefix="Could not load the calls" />
      <div className="table-wrap">
        <table className="records" data-testid="calls">
          <caption className="visually-hidden">Recent calls, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Caller</th>
              <th scope="col">Number</th>
              <th scope="col" className="col-when">
                When
              </th>
              <th scope="col">Status</th>
              <th scope="col">Answered by</th>
            </tr>
          </thead>
          <tbody>
            {items.map((call) => (
              <CallRow key={call.id} call={call} />
            ))}
            {query.isPending ? (
              <tr>
                <td colSpan={5} className="empty">
                  Loading…
                </td>
              </tr>
            ) : null}
            {query.isSuccess && items.length === 0 ? (
              <tr>
                <td colSpan={5} className="empty">
                  {missedOnly ? 'No missed calls.' : 'No calls yet.'}
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function CallRow({ call }: { call: Call }) {
  const caller = useCallerName(call);
  const answeredBy = useUserName(call.answeredById);
  const { answer, answering } = useCalls();
  return (
    <tr className={`call-row call-${call.status}`} data-testid="call-row" data-status={call.status}>
      <th scope="row">{caller}</th>
      <td>{call.fromNumber}</td>
      <td className="col-when">{formatDateTime(call.createdAt)}</td>
      <td>
        <span className={`pill pill-call-${call.status}`}>{statusText[call.status]}</span>
        {call.status === 'ringing' ? (
          <>
            {' '}
            <button type="button" className="button small" onClick={() => answer(call.id)} disabled={answering === call.id}>
              Answer
            </button>
          </>
        ) : null}
      </td>
      <td>{call.answeredById ? answeredBy : ''}</td>
    </tr>
  );
}
