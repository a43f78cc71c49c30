import type { Tx } from '../db/client.ts';
import { EVENT_INSERT, EVENT_RETURNING, previousSeqOf, sequenced, type SequencedEvent, type WrittenEventRow } from './log.ts';

/**
 * The event of a record change, defined once as SQL over the record written and both
 * commit strategies write it so: the one-statement strategy over the row its statement
 * returns (commit-statement.ts), the general strategy over the records its change gives
 * (`appendRecordEvent`). Whatever the strategy, a change of the same record gets the
 * same event.
 */

export type RecordAction = 'created' | 'updated' | 'deleted' | 'restored';

/** A record change's event, from the record in its wire form (as the API returns it). */
export interface RecordEventDraft {
  orgId: string;
  module: string;
  action: RecordAction;
  userId: string;
  /** The record written; for `deleted`, the record as it was. */
  record: Record<string, unknown> & { id: string; version: number };
  /** For `updated`: the record before the change. */
  before?: Record<string, unknown>;
  /** For `updated`: the older version a stale update was merged from. */
  mergedFromVersion?: number | null;
  /** For `updated`: the version of a colleague's change its author chose to replace after a conflict. */
  overridesVersion?: number | null;
}

/** SQL (each a parameter or expression) of the event's columns that do not come from the record. */
export interface RecordEventColumns {
  org: string;
  module: string;
  action: string;
  user: string;
  mergedFromVersion: string;
  overridesVersion: string;
}

/**
 * The event row of a change, inserted from `source`: a relation with the record's `id`
 * and `version`, `record` (its wire form as jsonb) and, for `updated`, `before`. A record's event carries the record
 * itself (`created`, `deleted`) or its changes (`updated`: see `changesSql`); a deletion
 * is the record's last change, so its version follows the last stored one. `fields`:
 * when the write can change only these, `before` may hold only them (see `changesSql`).
 */
export function recordEventSql(action: RecordAction, columns: RecordEventColumns, source: string, fields?: readonly string[]): string {
  const version = `${source}.version${action === 'deleted' ? ' + 1' : ''}`;
  const data = action === 'updated' ? changesSql(`${source}.before`, `${source}.record`, fields) : `${source}.record`;
  return `${EVENT_INSERT}
    SELECT ${columns.org}, ${columns.module}, ${columns.action}, ${source}.id, ${version}, ${columns.user}, ${data},
      ${columns.mergedFromVersion}, ${previousSeqOf(columns.org)}, ${source}.record->>'teamId', ${columns.overridesVersion} FROM ${source}
    ${EVENT_RETURNING}`;
}

/**
 * An update's event data: each field whose wire value differs between the two records,
 * as `{ from, to }`; the version is the event's own column, not a change. With
 * `fields` (the only ones the write could change), only those are compared: the
 * same data, since no other field can differ. So the event
 * says what changed and who changed it when (`updatedAt`, `updatedById`), and nothing
 * that stayed as it was.
 */
export function changesSql(before: string, after: string, fields?: readonly string[]): string {
  if (fields) {
    // Only these can differ: looked up by name instead of both records expanded and joined
    // (a fifth of a one-statement update's cost in the embedded database).
    const pairs = fields.filter((field) => field !== 'version').map((field) => `(${quoteLiteral(field)}, ${before}->${quoteLiteral(field)}, ${after}->${quoteLiteral(field)})`);
    if (pairs.length === 0) return `'{}'::jsonb`;
    return `(SELECT COALESCE(jsonb_object_agg(f.key, jsonb_build_object('from', f.before, 'to', f.after)), '{}')
    FROM (VALUES ${pairs.join(', ')}) AS f(key, before, after) WHERE f.after IS DISTINCT FROM f.before)`;
  }
  return `(SELECT COALESCE(jsonb_object_agg(after.key, jsonb_build_object('from', before.value, 'to', after.value)), '{}')
    FROM jsonb_each(${after}) AS after JOIN jsonb_each(${before}) AS before USING (key)
    WHERE after.value IS DISTINCT FROM before.value AND after.key <> 'version')`;
}

/** A column name as an SQL string literal. */
function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

const APPEND_RECORD_EVENT = Object.fromEntries(
  (['created', 'updated', 'deleted', 'restored'] as const).map((action) => [
    action,
    `WITH rec AS (SELECT $5::text AS id, $6::integer AS version, $7::jsonb AS record, $8::jsonb AS before)
    ${recordEventSql(action, { org: '$1::text', module: '$2::text', action: '$3::text', user: '$4::text', mergedFromVersion: '$9::integer', overridesVersion: '$10::integer' }, 'rec')}`,
  ]),
) as Record<RecordAction, string>;

/** In the change's transaction, after the org's log lock: the record change's event row (see `appendEvent`). */
export async function appendRecordEvent(tx: Tx, draft: RecordEventDraft): Promise<SequencedEvent> {
  const [row] = await tx.$queryRawUnsafe<WrittenEventRow[]>(
    APPEND_RECORD_EVENT[draft.action],
    draft.orgId,
    draft.module,
    draft.action,
    draft.userId,
    draft.record.id,
    draft.record.version,
    JSON.stringify(draft.record),
    draft.before ? JSON.stringify(draft.before) : null,
    draft.mergedFromVersion ?? null,
    draft.overridesVersion ?? null,
  );
  if (!row) throw new Error('The event row was not written');
  return sequenced(row);
}
