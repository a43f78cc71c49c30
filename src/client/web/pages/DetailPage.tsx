import { useQuery } from '@tanstack/react-query';
import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import { modules, type ModuleName } from '../../../shared/modules.ts';
import type { Viewer } from '../../../shared/presence.ts';
import { FieldInput } from '../components/FieldInput.tsx';
import { errorCode, messageOf, recordApi } from '../modules/api.ts';
import { fieldsOf, type FieldSpec } from '../modules/fields.ts';
import { formatDateTime, formatValue, fromInputValue, toInputValue } from '../modules/format.ts';
import { fieldLabel, moduleUi } from '../modules/ui.ts';
import { sameValue, useFieldUpdate, type FieldBase } from '../modules/useFieldUpdate.ts';
import { useFlash } from '../realtime/flash.ts';
import { deletedKey, type CachedRecord, type Deletion } from '../realtime/patch.ts';
import { Link, navigateFrom } from '../router.tsx';
import { Avatar } from '../presence/Avatars.tsx';
import { useRecordActivity, useTypingReporter } from '../presence/PresenceProvider.tsx';
import { useNamesOf, usePersonLabel, useUserName } from '../people/people.ts';
import { useSession } from '../session/SessionContext.tsx';
import { TextContact } from '../inbox/TextContact.tsx';
import { trpc } from '../trpc.ts';
import { ActivityPanel } from './ActivityPanel.tsx';
import { useOffline, usePendingChange, usePendingDelete } from '../offline/OfflineProvider.tsx';
import { PendingDeleteNotice } from '../offline/PendingDeleteNotice.tsx';
import { QueuedOffline } from '../offline/queue.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { useRestore } from './DeletedRecords.tsx';

/** Any module's record: every field editable in place, kept current by the event stream. */
export function DetailPage({ module, id }: { module: ModuleName; id: string }) {
  const ui = moduleUi[module];
  const query = recordApi(module).byId.useQuery({ id }, { retry: (count, error) => errorCode(error) !== 'NOT_FOUND' && count < 2 });
  const deletion = useQuery<Deletion | null>({ queryKey: deletedKey(module, id), queryFn: () => null, enabled: false, staleTime: Infinity }).data;
  const record: CachedRecord | undefined = query.data;
  const deletedBy = useUserName(deletion?.userId);
  const updatedBy = useUserName(record ? String(record.updatedById ?? '') : undefined);
  const { user } = useSession();
  const activity = useRecordActivity(module, id, user.id);
  const pendingDelete = usePendingDelete(module, id);

  if (!record) {
    return (
      <section>
        <p>
          <Link href={`/${module}`}>← {ui.plural}</Link>
        </p>
        {query.isError ? (
          <p className={errorCode(query.error) === 'NOT_FOUND' ? 'notice' : 'error'} role="alert">
            {errorCode(query.error) === 'NOT_FOUND' ? `This ${ui.singular} does not exist or was deleted.` : messageOf(query.error)}
          </p>
        ) : (
          <p className="muted">Loading…</p>
        )}
        {errorCode(query.error) === 'NOT_FOUND' ? <GoneRecord module={module} id={id} /> : null}
      </section>
    );
  }

  const deleted = Boolean(deletion);
  // A record on its way out is not edited meanwhile: an edit sent after its delete could only be refused.
  const readOnly = deleted || (pendingDelete !== undefined && pendingDelete.state !== 'refused');
  return (
    <section aria-labelledby="detail-heading" className="detail">
      <p className="breadcrumb">
        <Link href={`/${module}`}>← {ui.plural}</Link>
      </p>
      <div className="page-header">
        <h1 id="detail-heading">{ui.title(record) || '(untitled)'}</h1>
        {!deleted && record.phone && (module === 'clients' || module === 'leads') ? (
          <TextContact target={module === 'clients' ? { clientId: record.id } : { leadId: record.id }} name={ui.title(record)} />
        ) : null}
        {!deleted ? <DeleteButton module={module} record={record} /> : null}
      </div>
      {pendingDelete && !deleted ? <PendingDeleteNotice change={pendingDelete} /> : null}
      {deletion ? (
        <p className="notice danger" role="alert" data-testid="deleted-notice">
          This {ui.singular} was deleted by {deletedBy} at {formatDateTime(deletion.timestamp)}. What you see is its last state.
          {user.role === 'admin' ? <RestoreButton module={module} id={id} /> : null}
        </p>
      ) : null}
      <p className="meta muted">
        <span data-testid="version">Version {record.version}</span> · updated {formatDateTime(String(record.updatedAt))}
        {record.updatedById ? <span data-testid="updated-by"> by {updatedBy}</span> : null} · created {formatDateTime(String(record.createdAt))}
      </p>
      <div className="viewers" data-testid="viewers" aria-live="polite">
        {activity.viewers.length > 0 ? (
          <>
            <span className="muted">Also here:</span>
            {activity.viewers.map((viewer) => (
              <Avatar key={viewer.userId} person={viewer} />
            ))}
          </>
        ) : null}
      </div>
      <dl className="fields">
        {fieldsOf(module).map((spec) => (
          <InlineField key={spec.name} module={module} record={record} spec={spec} readOnly={readOnly} typing={activity.typing.get(spec.name)} />
        ))}
      </dl>
      <ActivityPanel module={module} id={id} version={record.version + (deleted ? 1 : 0)} />
    </section>
  );
}

interface Conflict {
  theirs: unknown;
  mine: unknown;
  version: number;
  by: string;
}

/** One field: its value, and in place an input to change it (Enter saves, Escape cancels). */
function InlineField({
  module,
  record,
  spec,
  readOnly,
  typing,
}: {
  module: ModuleName;
  record: CachedRecord;
  spec: FieldSpec;
  readOnly: boolean;
  /** Others typing in this field now. */
  typing: Viewer[] | undefined;
}) {
  const reporter = useTypingReporter(module, record.id);
  const inputId = useId();
  const messageId = useId();
  const [editing, setEditing] = useState<{ text: string; from: { value: unknown; version: number } } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const flashing = useFlash(module, record.id, spec.name);
  const { save, pending } = useFieldUpdate(module, record.id);
  const conflictBy = useUserName(conflict?.by);
  const typingNames = useNamesOf(typing);
  const label = fieldLabel(module, spec.name);
  const value = record[spec.name];
  // An edit kept on this device shows as made until the server has it (after a reload too).
  const kept = usePendingChange(module, record.id, spec.name);
  const { queue } = useOffline();
  const shownValue = kept?.state === 'waiting' ? kept.value : value;
  const keptBy = useUserName(kept?.theirBy);
  const valueButton = useRef<HTMLButtonElement>(null);
  const wasEditing = useRef(false);
  // Keyboard users land back on the value they edited, not at the top of the page.
  useEffect(() => {
    if (wasEditing.current && !editing) valueButton.current?.focus();
    wasEditing.current = Boolean(editing);
  }, [editing]);

  const start = () => {
    if (readOnly) return;
    setError(null);
    setConflict(null);
    setEditing({ text: toInputValue(spec, shownValue), from: { value, version: record.version } });
  };

  const commit = async (text: string, from: FieldBase) => {
    const parsed = fromInputValue(spec, text);
    if ('error' in parsed) return setError(parsed.error);
    const checked = modules[module].patch.safeParse({ [spec.name]: parsed.value });
    if (!checked.success) return setError(checked.error.issues[0]?.message ?? 'Invalid value');
    setEditing(null);
    setError(null);
    reporter.done(spec.name);
    if (sameValue(parsed.value, value) && from.version === record.version) return;
    const outcome = await save(spec.name, parsed.value, from);
    if (outcome.type === 'conflict') {
      setConflict({ theirs: outcome.current[spec.name], mine: outcome.mine, version: outcome.current.version, by: String(outcome.current.updatedById) });
    } else if (outcome.type === 'error') {
      setError(`Not saved: ${messageOf(outcome.error)}`);
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLElement>) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      reporter.done(spec.name);
      setEditing(null);
      setError(null);
    } else if (event.key === 'Enter' && spec.kind !== 'textarea' && editing) {
      event.preventDefault();
      void commit(editing.text, editing.from);
    }
  };

  const shown = formatValue(spec, shownValue);
  const displayRef = spec.kind === 'ref' && shownValue ? <RefValue spec={spec} id={String(shownValue)} /> : null;
  return (
    <div className={`field${flashing ? ' flash' : ''}`} data-field={spec.name}>
      <dt>
        <label htmlFor={editing ? inputId : undefined} id={`${inputId}-label`}>
          {label}
          {spec.required ? (
            // The input says it is required (aria-required); the star is for the eye only.
            <span className="required" aria-hidden="true">
              {' '}
              *
            </span>
          ) : null}
        </label>
        <span className="typing" data-testid={`typing-${spec.name}`} aria-live="polite">
          {typingNames.length ? `${typingNames.join(', ')} ${typingNames.length > 1 ? 'are' : 'is'} typing…` : ''}
        </span>
      </dt>
      <dd>
        {editing ? (
          <form
            className="inline-edit"
            onSubmit={(event) => {
              event.preventDefault();
              void commit(editing.text, editing.from);
            }}
          >
            <FieldInput
              id={inputId}
              spec={spec}
              value={editing.text}
              onChange={(text) => {
                setEditing({ ...editing, text });
                reporter.typing(spec.name);
              }}
              invalid={Boolean(error)}
              describedBy={error ? messageId : undefined}
              autoFocus
              onKeyDown={onKeyDown}
            />
            <button type="submit" className="button small primary">
              Save
            </button>
            <button
              type="button"
              className="button small ghost"
              onClick={() => {
                reporter.done(spec.name);
                setEditing(null);
                setError(null);
              }}
            >
              Cancel
            </button>
          </form>
        ) : (
          <button
            ref={valueButton}
            type="button"
            className="value"
            onClick={start}
            disabled={readOnly}
            aria-labelledby={`${inputId}-label ${inputId}-value`}
            aria-busy={pending || undefined}
          >
            <span id={`${inputId}-value`} className={shown ? undefined : 'muted'}>
              {displayRef ?? (shown || 'Empty')}
            </span>
            {!readOnly ? (
              <span className="edit-hint" aria-hidden="true">
                Edit
              </span>
            ) : null}
          </button>
        )}
        {kept?.state === 'waiting' ? (
          <span className="pending-sync" data-testid={`pending-${spec.name}`}>
            Saved on this device, waiting to sync
          </span>
        ) : null}
        {kept?.state === 'refused' ? (
          <div className="conflict" role="alert" data-testid="refused">
            <p>
              <strong>Not saved:</strong> your value {formatValue(spec, kept.value) || 'empty'} was refused: {kept.reason}
            </p>
            <button type="button" className="button small ghost" onClick={() => void queue?.discard(kept.seq)}>
              Discard it
            </button>
          </div>
        ) : null}
        {kept?.state === 'conflict' ? (
          <div className="conflict" role="alert" data-testid="conflict">
            <p>
              <strong>Not saved: {keptBy === 'you' ? 'this was changed elsewhere' : `${keptBy} changed this`}</strong> while your edit waited to sync. It is now{' '}
              <strong data-testid="conflict-theirs">{formatValue(spec, kept.theirs) || 'empty'}</strong> (version {kept.theirVersion}); your value was{' '}
              <strong>{formatValue(spec, kept.value) || 'empty'}</strong>.
            </p>
            <button type="button" className="button small" onClick={() => void queue?.saveMine(kept.seq)}>
              Use my value
            </button>
            <button type="button" className="button small ghost" onClick={() => void queue?.discard(kept.seq)}>
              Keep theirs
            </button>
          </div>
        ) : null}
        {error ? (
          <p id={messageId} className="field-error" role="alert">
            {error}
          </p>
        ) : null}
        {conflict ? (
          <div className="conflict" role="alert" data-testid="conflict">
            <p>
              <strong>Not saved: {conflictBy === 'you' ? 'this was changed in another tab' : `${conflictBy} changed this`}</strong> while you were editing. It is now{' '}
              <strong data-testid="conflict-theirs">{formatValue(spec, conflict.theirs) || 'empty'}</strong> (version {conflict.version}); your value was{' '}
              <strong>{formatValue(spec, conflict.mine) || 'empty'}</strong>.
            </p>
            <button
              type="button"
              className="button small"
              onClick={() => {
                const mine = toInputValue(spec, conflict.mine);
                setConflict(null);
                // Chosen knowing theirs: the record's history says this edit replaced it.
                void commit(mine, { value: conflict.theirs, version: conflict.version, overridesVersion: conflict.version });
              }}
            >
              Use my value
            </button>
            <button type="button" className="button small ghost" onClick={() => setConflict(null)}>
              Keep theirs
            </button>
          </div>
        ) : null}
      </dd>
    </div>
  );
}

function RefValue({ spec, id }: { spec: FieldSpec; id: string }) {
  const target = spec.ref!;
  if (target === 'users') return <PersonRef id={id} />;
  if (target === 'teams') return <TeamRef id={id} />;
  return <RecordRef module={target} id={id} />;
}

function TeamRef({ id }: { id: string }) {
  const teams = trpc.teams.list.useQuery(undefined, { staleTime: 60_000 });
  return <>{teams.data?.find((team) => team.id === id)?.name ?? (teams.isLoading ? '…' : 'Unknown team')}</>;
}

function PersonRef({ id }: { id: string }) {
  return <>{usePersonLabel(id)}</>;
}

function RecordRef({ module, id }: { module: ModuleName; id: string }) {
  const query = recordApi(module).byId.useQuery({ id }, { retry: false });
  const title = query.data ? moduleUi[module].title(query.data) : undefined;
  return <>{title ?? (query.isError ? `Unknown ${moduleUi[module].singular}` : '…')}</>;
}

/**
 * Delete, through the device's queue: online it is sent at once (a conflict is said here);
 * offline it is kept, and the page says it will be deleted when the connection is back.
 */
function DeleteButton({ module, record }: { module: ModuleName; record: CachedRecord }) {
  const ui = moduleUi[module];
  const { queue } = useOffline();
  const kept = usePendingDelete(module, record.id);
  const [confirming, setConfirming] = useState(false);
  const [sending, setSending] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const confirm = useRef<HTMLButtonElement>(null);
  // Asked for by a click on Delete: the keyboard goes on to the question it opened.
  useEffect(() => {
    if (confirming) confirm.current?.focus();
  }, [confirming]);
  const remove = async () => {
    if (!queue) return;
    setSending(true);
    setFailure(null);
    try {
      await queue.delete({ module, recordId: record.id, fromVersion: record.version, title: ui.title(record) });
      // The record's own deletion event may have turned this page into its "deleted" view first.
      navigateFrom(`/${module}/${record.id}`, `/${module}`);
    } catch (error) {
      if (error instanceof QueuedOffline) setConfirming(false);
      else setFailure(error);
    } finally {
      setSending(false);
    }
  };
  // Kept on this device: the notice under the heading says what becomes of it.
  if (kept && !sending) return null;
  if (!confirming) {
    return (
      <button type="button" className="button danger-outline" onClick={() => setConfirming(true)}>
        Delete
      </button>
    );
  }
  return (
    <fieldset className="confirm" aria-label={`Delete this ${ui.singular}?`}>
      <span>Delete this {ui.singular}?</span>
      <button ref={confirm} type="button" className="button danger" disabled={sending || !queue} onClick={() => void remove()}>
        Delete
      </button>
      <button
        type="button"
        className="button ghost"
        onClick={() => {
          setConfirming(false);
          setFailure(null);
        }}
      >
        Cancel
      </button>
      {failure ? (
        <span className="field-error" role="alert">
          {errorCode(failure) === 'CONFLICT' ? `It changed since you opened it; look again before deleting.` : messageOf(failure)}
        </span>
      ) : null}
    </fieldset>
  );
}

/** Admins bring a record deleted under their eyes back; its `restored` event refreshes the page. */
function RestoreButton({ module, id }: { module: ModuleName; id: string }) {
  const restore = useRestore(module);
  return (
    <>
      {' '}
      <button type="button" className="button small" disabled={restore.isPending} onClick={() => restore.mutate({ id })}>
        Restore
      </button>
      <ErrorNote error={restore.error} inline />
    </>
  );
}

/**
 * A record that is not there: when it was deleted, its history says so (by whom, when), an
 * admin can restore it, and its Activity stays readable; an id that never was shows nothing more.
 */
function GoneRecord({ module, id }: { module: ModuleName; id: string }) {
  const { user } = useSession();
  const last = recordApi(module).history.useQuery({ id, limit: 1 }, { retry: false }).data?.items[0];
  const by = useUserName(last?.userId);
  if (last?.action !== 'deleted') return null;
  return (
    <>
      <p className="notice danger" data-testid="deleted-notice">
        Deleted by {by} at {formatDateTime(last.timestamp)}.{user.role === 'admin' ? <RestoreButton module={module} id={id} /> : null}
      </p>
      <ActivityPanel module={module} id={id} version={last.version} />
    </>
  );
}
