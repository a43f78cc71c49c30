import { useState } from 'react';
import type { ModuleName } from '../../../shared/modules.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { recordApi } from '../modules/api.ts';
import { formatDateTime } from '../modules/format.ts';
import { moduleUi } from '../modules/ui.ts';
import { useUserName } from '../people/people.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session/SessionContext.tsx';
import { trpc } from '../trpc.ts';

/** `M.restore` with what follows it: the deleted list read again (the record's own pages follow its `restored` event). */
export function useRestore(module: ModuleName) {
  const utils = trpc.useUtils();
  return recordApi(module).restore.useMutation({
    onSuccess: (_record, { id }) => {
      void utils[module].deleted.invalidate();
      // A page that had only its "not found" answer has no record for the event to patch: read it.
      void utils[module].byId.invalidate({ id });
    },
  });
}

/** Admins, under a module's list: what was deleted, by whom and when, each with Restore. Read only when opened. */
export function DeletedRecords({ module }: { module: ModuleName }) {
  const { user } = useSession();
  const [open, setOpen] = useState(false);
  if (user.role !== 'admin') return null;
  return (
    <details className="deleted-records" onToggle={(event) => setOpen(event.currentTarget.open)} data-testid="deleted-records">
      <summary>Recently deleted {moduleUi[module].plural.toLowerCase()}</summary>
      {open ? <DeletedList module={module} /> : null}
    </details>
  );
}

function DeletedList({ module }: { module: ModuleName }) {
  const ui = moduleUi[module];
  const deleted = recordApi(module).deleted.useInfiniteQuery({ limit: 25 }, { getNextPageParam: (page) => page.nextCursor ?? undefined });
  const restore = useRestore(module);
  const items = deleted.data?.pages.flatMap((page) => page.items) ?? [];
  return (
    <>
      <ErrorNote error={deleted.error ?? restore.error} />
      {deleted.isSuccess && items.length === 0 ? <p className="muted">Nothing deleted.</p> : null}
      <ul className="deleted-list">
        {items.map((item) => (
          <li key={item.id} data-id={item.id}>
            <Link href={`/${module}/${item.id}`}>{ui.title(item.record as never) || '(untitled)'}</Link>
            <DeletedBy userId={item.deletedById} at={item.deletedAt} />
            <button type="button" className="button small" disabled={restore.isPending} onClick={() => restore.mutate({ id: item.id })}>
              Restore
            </button>
          </li>
        ))}
      </ul>
      {deleted.hasNextPage ? (
        <button type="button" className="button small ghost" onClick={() => void deleted.fetchNextPage()}>
          Show more
        </button>
      ) : null}
    </>
  );
}

function DeletedBy({ userId, at }: { userId: string | null; at: string }) {
  const who = useUserName(userId);
  return (
    <span className="muted">
      deleted by {who} · {formatDateTime(at)}
    </span>
  );
}
