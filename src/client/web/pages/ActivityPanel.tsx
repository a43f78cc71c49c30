import { useEffect } from 'react';
import type { HistoryItem } from '../../../shared/history.ts';
import type { ModuleName } from '../../../shared/modules.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { recordApi } from '../modules/api.ts';
import { fieldsOf } from '../modules/fields.ts';
import { formatDateTime, formatValue } from '../modules/format.ts';
import { capitalized, fieldLabel, moduleUi } from '../modules/ui.ts';
import { useUserName } from '../people/people.ts';
import { trpc } from '../trpc.ts';

const PAGE = 20;
/** As it arrives: JSON leaves `unknown` values optional. */
type ShownItem = Omit<HistoryItem, 'changes'> & { changes: Record<string, { from?: unknown; to?: unknown }> };
const VERBS: Record<HistoryItem['action'], string> = { created: 'created', updated: 'changed', deleted: 'deleted', restored: 'restored' };

/**
 * The record's history, newest first (`M.history`): who changed which field from what to
 * what, and when. It grows live: each change the event stream brings raises the record's
 * version (`version`), and the first page is read again.
 */
export function ActivityPanel({ module, id, version }: { module: ModuleName; id: string; version: number }) {
  const utils = trpc.useUtils();
  const history = recordApi(module).history.useInfiniteQuery({ id, limit: PAGE }, { getNextPageParam: (page) => page.nextCursor ?? undefined });
  // biome-ignore lint/correctness/useExhaustiveDependencies: read again when the record's version moves, not on every render.
  useEffect(() => {
    void utils[module].history.invalidate({ id });
  }, [version]);
  const items = history.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <section className="activity" aria-labelledby="activity-heading" data-testid="activity">
      <h2 id="activity-heading">Activity</h2>
      <ErrorNote error={history.error} prefix="Could not load the activity" />
      {history.isPending ? <p className="muted">Loading…</p> : null}
      <ol className="activity-list">
        {items.map((item) => (
          <ActivityItem key={item.seq} module={module} item={item} />
        ))}
      </ol>
      {history.hasNextPage ? (
        <button type="button" className="button small ghost" onClick={() => void history.fetchNextPage()} disabled={history.isFetchingNextPage}>
          {history.isFetchingNextPage ? 'Loading…' : 'Show older'}
        </button>
      ) : null}
    </section>
  );
}

function ActivityItem({ module, item }: { module: ModuleName; item: ShownItem }) {
  const who = useUserName(item.userId);
  const specs = new Map(fieldsOf(module).map((spec) => [spec.name, spec]));
  const show = (field: string, value: unknown) => {
    const spec = specs.get(field);
    const text = spec ? formatValue(spec, value) : value == null ? '' : String(value);
    return text === '' ? 'empty' : text;
  };
  const fields = Object.entries(item.changes).filter(([field]) => specs.has(field));
  const Who = capitalized(who);
  return (
    <li className={`activity-item activity-${item.action}`} data-testid="activity-item" data-version={item.version}>
      <p>
        <strong>{Who}</strong> {item.action === 'updated' ? VERBS.updated : `${VERBS[item.action]} this ${moduleUi[module].singular}`}
        {item.mergedFromVersion ? <span className="muted"> (merged: made on version {item.mergedFromVersion}, nobody had changed it since)</span> : null}
        {item.overridesVersion ? (
          <span className="muted" data-testid="activity-overrides">
            {' '}
            (kept {who === 'you' ? 'your' : 'their'} own value over version {item.overridesVersion}, after a conflict)
          </span>
        ) : null}
        <time className="muted" dateTime={item.timestamp}>
          {' '}
          · {formatDateTime(item.timestamp)}
        </time>
      </p>
      {item.action === 'updated' ? (
        <ul className="activity-changes">
          {fields.map(([field, change]) => (
            <li key={field}>
              {fieldLabel(module, field)}: <del>{show(field, change.from)}</del> → <ins>{show(field, change.to)}</ins>
            </li>
          ))}
        </ul>
      ) : null}
    </li>
  );
}
