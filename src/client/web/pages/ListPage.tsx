import { useEffect, useId, useState } from 'react';
import { modules, titleFieldOf, type AnyModule, type ModuleListInput, type ModuleName } from '../../../shared/modules.ts';
import { recordApi } from '../modules/api.ts';
import { fieldOf } from '../modules/fields.ts';
import { formatValue } from '../modules/format.ts';
import { enumLabel, fieldLabel, moduleUi } from '../modules/ui.ts';
import type { CachedRecord } from '../realtime/patch.ts';
import { useFlash } from '../realtime/flash.ts';
import { Link, navigate } from '../router.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { trpc } from '../trpc.ts';
import { DeletedRecords } from './DeletedRecords.tsx';
import { usePendingCreates, usePendingDeletes } from '../offline/OfflineProvider.tsx';
import type { PendingCreate, PendingDelete } from '../offline/store.ts';

const PAGE_SIZE = 25;

/** A status of one of the modules: what `list({ status })` takes. */
type Status = NonNullable<ModuleListInput<AnyModule>['status']>;
/** Whether `value` is one of the module's statuses (`options`, read from its enum). */
const isStatus = (options: readonly string[], value: string): value is Status => options.includes(value);

/** Waits for typing to pause before searching. */
function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

/** Any module's list: search, status filter, newest first, "Load more". */
export function ListPage({ module }: { module: ModuleName }) {
  const ui = moduleUi[module];
  const statusSpec = fieldOf(module, modules[module].statusField);
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState<Status | ''>('');
  const [teamId, setTeamId] = useState('');
  const teams = trpc.teams.list.useQuery(undefined, { staleTime: 60_000 });
  const teamFilterId = useId();
  const debouncedSearch = useDebounced(search.trim(), 250);
  const searchId = useId();
  const statusId = useId();

  const query = recordApi(module).list.useInfiniteQuery(
    { limit: PAGE_SIZE, ...(debouncedSearch ? { search: debouncedSearch } : {}), ...(status ? { status } : {}), ...(teamId ? { teamId } : {}) },
    { getNextPageParam: (page) => page.nextCursor ?? undefined, placeholderData: (previous) => previous },
  );
  const items: CachedRecord[] = query.data?.pages.flatMap((page) => page.items) ?? [];
  // Made on this device and not yet on the server: new records on top (whatever the filters:
  // they are the person's own, waiting), records on their way out marked.
  const created = usePendingCreates(module);
  const deleting = usePendingDeletes(module);

  return (
    <section aria-labelledby="list-heading">
      <div className="page-header">
        <h1 id="list-heading">{ui.plural}</h1>
        <button type="button" className="button primary" onClick={() => navigate(`/${module}/new`)}>
          New {ui.singular}
        </button>
      </div>
      <search className="filters">
        <label htmlFor={searchId} className="visually-hidden">
          Search {ui.plural.toLowerCase()}
        </label>
        <input
          id={searchId}
          className="input search"
          type="search"
          placeholder={`Search ${ui.plural.toLowerCase()}…`}
          value={search}
          onChange={(event) => setSearch(event.target.value)}
        />
        <label htmlFor={statusId} className="visually-hidden">
          Filter by {fieldLabel(module, statusSpec.name).toLowerCase()}
        </label>
        <select id={statusId} className="input" value={status} onChange={(event) => setStatus(isStatus(statusSpec.options!, event.target.value) ? event.target.value : '')}>
          <option value="">Any {fieldLabel(module, statusSpec.name).toLowerCase()}</option>
          {statusSpec.options!.map((option) => (
            <option key={option} value={option}>
              {enumLabel(option)}
            </option>
          ))}
        </select>
        {teams.data?.length ? (
          <>
            <label htmlFor={teamFilterId} className="visually-hidden">
              Filter by team
            </label>
            <select id={teamFilterId} className="input" value={teamId} onChange={(event) => setTeamId(event.target.value)}>
              <option value="">Any team</option>
              {teams.data.map((team) => (
                <option key={team.id} value={team.id}>
                  {team.name}
                </option>
              ))}
            </select>
          </>
        ) : null}
        <span className="muted count" aria-live="polite">
          {query.isFetching && !query.isFetchingNextPage ? 'Updating…' : `${items.length}${query.hasNextPage ? '+' : ''} shown`}
        </span>
      </search>
      <ErrorNote error={query.error} prefix={`Could not load ${ui.plural.toLowerCase()}`} />
      <div className="table-wrap">
        <table className="records">
          <thead>
            <tr>
              <th scope="col">{fieldLabel(module, titleFieldOf(module))}</th>
              {ui.columns.map((column) => (
                <th scope="col" key={column} className={`col-${fieldOf(module, column).kind}`}>
                  {fieldLabel(module, column)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {created.map((change) => (
              <PendingCreateRow key={change.seq} change={change} />
            ))}
            {items.map((item) => (
              <Row key={item.id} module={module} record={item} deleting={deleting.get(item.id)} />
            ))}
            {query.isSuccess && items.length === 0 && created.length === 0 ? (
              <tr>
                <td colSpan={ui.columns.length + 1} className="empty">
                  No {ui.plural.toLowerCase()} {debouncedSearch || status || teamId ? 'match these filters' : 'yet'}.
                </td>
              </tr>
            ) : null}
            {query.isPending ? (
              <tr>
                <td colSpan={ui.columns.length + 1} className="empty">
                  Loading…
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      {query.hasNextPage ? (
        <div className="load-more">
          <button type="button" className="button" onClick={() => void query.fetchNextPage()} disabled={query.isFetchingNextPage}>
            {query.isFetchingNextPage ? 'Loading…' : 'Load more'}
          </button>
        </div>
      ) : null}
      <DeletedRecords module={module} />
    </section>
  );
}

/** The list's columns after the title, of a record or of values not yet a record. */
function Cells({ module, values }: { module: ModuleName; values: Record<string, unknown> }) {
  return moduleUi[module].columns.map((column) => {
    const spec = fieldOf(module, column);
    const text = formatValue(spec, values[column]);
    return (
      <td key={column} className={`col-${spec.kind}`} data-field={column}>
        {spec.kind === 'enum' && text ? <span className={`pill pill-${String(values[column])}`}>{text}</span> : text || <span className="muted">—</span>}
      </td>
    );
  });
}

/** What becomes of a record deleted on this device, on its row. */
const deletingLabel = (change: PendingDelete) =>
  change.state === 'waiting' ? 'Will be deleted when back online' : change.state === 'conflict' ? 'Changed meanwhile: delete or keep it?' : null;

function Row({ module, record, deleting }: { module: ModuleName; record: CachedRecord; deleting: PendingDelete | undefined }) {
  const flashing = useFlash(module, record.id);
  const ui = moduleUi[module];
  const label = deleting ? deletingLabel(deleting) : null;
  const className = [flashing ? 'flash' : '', label ? 'pending-delete' : ''].filter(Boolean).join(' ');
  return (
    <tr className={className || undefined} data-id={record.id} data-version={record.version}>
      <th scope="row">
        <Link href={`/${module}/${record.id}`}>{ui.title(record) || '(untitled)'}</Link>
        {label ? (
          <span className="pending-sync" data-testid="pending-delete-row">
            {label}
          </span>
        ) : null}
      </th>
      <Cells module={module} values={record} />
    </tr>
  );
}

/** A record created on this device and not yet on the server: no id, so nothing to open yet. */
function PendingCreateRow({ change }: { change: PendingCreate }) {
  const ui = moduleUi[change.module];
  return (
    <tr className="pending-create" data-pending-create={change.seq} data-state={change.state}>
      <th scope="row">
        {ui.title(change.values) || '(untitled)'}
        <span className="pending-sync" data-testid="pending-create-row">
          {change.state === 'refused' ? `Not created: ${change.reason}` : 'Waiting to sync'}
        </span>
      </th>
      <Cells module={change.module} values={change.values} />
    </tr>
  );
}
