import { useRef } from 'react';
import type { Alert } from '../../../shared/comms.ts';
import { formatDateTime } from '../modules/format.ts';
import { KindIcon, targetOf } from '../notifications/kinds.tsx';
import { Link } from '../router.tsx';
import { trpc } from '../trpc.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';

export const ALERTS_INPUT = { limit: 50 };

const kindLabel: Record<string, string> = {
  escrow_closing: 'Escrow closing soon',
  listing_price_drop: 'Price drop',
  lead_uncontacted: 'Lead not contacted',
};

/** An alert that arrived live, first in the cached list, once. */
export function withAlert(page: { items: Alert[] } | undefined, alert: Alert): { items: Alert[] } | undefined {
  if (!page || page.items.some((item) => item.id === alert.id)) return page;
  return { ...page, items: [alert, ...page.items] };
}

/**
 * The org's alerts, newest first, each leading to its record. New ones arrive by
 * themselves (`alerts.onNew`, over the socket or by polling the log).
 */
export function AlertsPage() {
  const utils = trpc.useUtils();
  const query = trpc.alerts.list.useQuery(ALERTS_INPUT);
  const startedOnce = useRef(false);
  trpc.alerts.onNew.useSubscription(undefined, {
    onStarted() {
      if (startedOnce.current) return;
      startedOnce.current = true;
      void utils.alerts.list.invalidate();
    },
    onData({ data: item }) {
      if (!('data' in item)) {
        void utils.alerts.list.invalidate();
        return;
      }
      utils.alerts.list.setData(ALERTS_INPUT, (page) => withAlert(page, item.data.alert));
    },
  });
  const items = query.data?.items ?? [];
  return (
    <section aria-labelledby="alerts-heading">
      <div className="page-header">
        <h1 id="alerts-heading">Alerts</h1>
      </div>
      <ErrorNote error={query.error} prefix="Could not load the alerts" />
      {query.isPending ? <p className="muted">Loading…</p> : null}
      {query.isSuccess && items.length === 0 ? <p className="muted">No alerts. Closing escrows, price drops and leads waiting for a call show up here.</p> : null}
      <ul className="alert-list" aria-labelledby="alerts-heading" data-testid="alerts">
        {items.map((alert) => {
          const target = targetOf(alert);
          return (
            <li key={alert.id} className={`alert-item alert-${alert.kind}`} data-testid="alert">
              <KindIcon kind="alert" />
              <div className="alert-text">
                <p className="alert-title">
                  <span className="visually-hidden">{kindLabel[alert.kind] ?? 'Alert'}: </span>
                  {target ? <Link href={target}>{alert.title}</Link> : alert.title}
                </p>
                {alert.body ? <p className="alert-body">{alert.body}</p> : null}
              </div>
              <time className="muted small" dateTime={alert.createdAt}>
                {formatDateTime(alert.createdAt)}
              </time>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
