import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { modules, type AnyModule, type ModuleCreateInput, type ModuleListInput, type ModulePatch, type ModuleRecord } from '../../shared/modules.ts';
import { idSchema } from '../../shared/text.ts';
import type { PublicUser } from '../../shared/auth.ts';
import type { AppDeps } from '../context.ts';
import type { Db, Tx } from '../db/client.ts';
import { commitChange, type CommitStrategy } from '../events/commit.ts';
import { idempotencyOf } from '../events/idempotency.ts';
import type { RecordAction, RecordEventDraft } from '../events/record-event.ts';
import { VersionConflict, type FieldConflict } from '../errors.ts';
import { deleteRecordAt, insertRecord, newRecordId, recordStatement, updateRecordIfChanged } from './statements.ts';
import { normalizeInput, recordOf, toDbData, toWire, type Row, type WireRecord } from './wire.ts';

/** The subset of a Prisma model delegate that every module shares. */
interface RecordDelegate {
  findFirst(args: object): Promise<Row | null>;
  findMany(args: object): Promise<Row[]>;
  create(args: object): Promise<Row>;
  update(args: object): Promise<Row>;
  delete(args: object): Promise<Row>;
}

/** Each module's Prisma delegate by its `model`: a module added without one does not compile. */
const delegates: { [Model in AnyModule['model']]: (db: Db | Tx) => RecordDelegate } = {
  job: (db) => db.job,
  escrow: (db) => db.escrow,
  listing: (db) => db.listing,
  client: (db) => db.client,
  lead: (db) => db.lead,
  appointment: (db) => db.appointment,
};

export function delegateOf(db: Db | Tx, module: AnyModule): RecordDelegate {
  return delegates[module.model](db);
}

export interface Actor {
  deps: AppDeps;
  user: PublicUser;
  /** The mutation's idempotencyKey, if the caller gave one. */
  idempotencyKey?: string | undefined;
}

/** How a change is written (see `CommitStrategy`): the commit decides unless told, as tests comparing the strategies do. */
export interface WriteOptions {
  strategy?: CommitStrategy | undefined;
}

function fieldError(field: string, message: string, input: unknown): TRPCError {
  return new TRPCError({
    code: 'BAD_REQUEST',
    message: `${field}: ${message}`,
    cause: new z.ZodError([{ code: 'custom', path: [field], message, input }]),
  });
}

export function notFound(module: AnyModule, id: string): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `No ${module.entity.toLowerCase()} with id ${id}` });
}

/** References to other records must point inside the caller's org. */
export async function checkRefs(tx: Tx, module: AnyModule, orgId: string, values: Record<string, unknown>) {
  for (const [field, target] of Object.entries(module.refs)) {
    const id = values[field];
    if (typeof id !== 'string' || !target) continue;
    const found =
      target === 'users'
        ? await tx.user.findFirst({ where: { id, orgId }, select: { id: true } })
        : target === 'teams'
          ? await tx.team.findFirst({ where: { id, orgId }, select: { id: true } })
          : await delegateOf(tx, modules[target]).findFirst({ where: { id, orgId }, select: { id: true } });
    const noun = target === 'users' ? 'user' : target === 'teams' ? 'team' : modules[target].entity.toLowerCase();
    if (!found) throw fieldError(field, `No ${noun} with id ${id}`, id);
  }
}

function checkRules(module: AnyModule, record: Record<string, unknown>) {
  const problem = module.check?.(record);
  if (problem) throw fieldError(problem.field, problem.message, record[problem.field]);
}

const cursorSchema = z.tuple([z.iso.datetime(), idSchema]);

function encodeCursor(row: WireRecord): string {
  return Buffer.from(JSON.stringify([row.createdAt, row.id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw fieldError('cursor', 'Invalid cursor', cursor);
  }
}

/**
 * Prisma's `contains` becomes `ILIKE '%' || value || '%'` and does not escape the value:
 * a search for `100%` would find `1000`, `a_b` would find `axb`. Backslash is PostgreSQL's
 * LIKE escape character.
 * @see https://github.com/prisma/prisma/issues/19506
 */
const likeLiteral = (value: string) => value.replace(/[\\%_]/g, '\\$&');

/** Newest first, keyset-paginated on (createdAt, id) so pages stay stable while records are added. */
export async function listRecords<D extends AnyModule>(
  { deps, user }: Actor,
  module: D,
  input: ModuleListInput<D>,
): Promise<{ items: ModuleRecord<D>[]; nextCursor: string | null }> {
  const and: object[] = [{ orgId: user.orgId }];
  if (input.status) and.push({ [module.statusField]: input.status });
  if (input.teamId) and.push({ teamId: input.teamId });
  if (input.search) {
    const contains = likeLiteral(input.search);
    and.push({ OR: module.search.map((field) => ({ [field]: { contains, mode: 'insensitive' } })) });
  }
  if (input.cursor) {
    const [createdAt, id] = decodeCursor(input.cursor);
    const at = new Date(createdAt);
    and.push({ OR: [{ createdAt: { lt: at } }, { createdAt: at, id: { lt: id } }] });
  }
  const rows = await delegateOf(deps.db, module).findMany({
    where: { AND: and },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: input.limit + 1,
  });
  const items = rows.slice(0, input.limit).map(toWire);
  const last = items.at(-1);
  return { items: items.map((item) => recordOf(module, item)), nextCursor: rows.length > input.limit && last ? encodeCursor(last) : null };
}

/** Whether the org has a record with this id: one indexed lookup, the id only. */
export async function isRecordOfOrg(db: Db, module: AnyModule, orgId: string, id: string): Promise<boolean> {
  return (await delegateOf(db, module).findFirst({ where: { id, orgId }, select: { id: true } })) !== null;
}

/** The org's record with this id as the API returns it; NOT_FOUND when the org has none (another org's id included). */
async function recordInOrg(db: Db | Tx, module: AnyModule, orgId: string, id: string): Promise<WireRecord> {
  const row = await delegateOf(db, module).findFirst({ where: { id, orgId } });
  if (!row) throw notFound(module, id);
  return toWire(row);
}

export async function getRecord<D extends AnyModule>({ deps, user }: Actor, module: D, id: string): Promise<ModuleRecord<D>> {
  return recordOf(module, await recordInOrg(deps.db, module, user.orgId, id));
}

/**
 * Whether a change can be one statement: it sets no reference, which would have to be
 * checked first. Whether an effect could follow is the commit's to decide.
 */
function setsNoRefs(module: AnyModule, values: Record<string, unknown>): boolean {
  return !Object.keys(module.refs).some((field) => typeof values[field] === 'string');
}

export async function createRecord<D extends AnyModule>(actor: Actor, module: D, input: ModuleCreateInput<D>, options: WriteOptions = {}): Promise<ModuleRecord<D>> {
  return recordOf(module, await createAnyRecord(actor, module, input, options));
}

async function createAnyRecord(actor: Actor, module: AnyModule, input: Record<string, unknown>, options: WriteOptions) {
  const { deps, user } = actor;
  const values = normalizeInput(module, input);
  checkRules(module, values);
  const at = new Date();
  const statement = setsNoRefs(module, values)
    ? await recordStatement(
        deps.db,
        module,
        { action: 'created', userId: user.id, preview: values },
        insertRecord({ ...toDbData(module, values), id: newRecordId(), orgId: user.orgId, createdById: user.id, updatedById: user.id, createdAt: at, updatedAt: at }),
      )
    : undefined;
  return commitChange(
    deps,
    user.orgId,
    async (tx) => {
      await checkRefs(tx, module, user.orgId, values);
      const row = await delegateOf(tx, module).create({
        data: { ...toDbData(module, values), orgId: user.orgId, createdById: user.id, updatedById: user.id },
      });
      const record = toWire(row);
      return { result: record, event: recordEvent(module, user, 'created', record) };
    },
    { idempotency: idempotencyOf(actor, [module.name, 'create'], values), statement, strategy: options.strategy },
  );
}

export interface UpdateInput<Patch = Record<string, unknown>> {
  id: string;
  expectedVersion: number;
  patch: Patch;
  /** After a CONFLICT: the version of the change this edit knowingly replaces (its event says so). */
  overridesVersion?: number | undefined;
}

/**
 * Applies `patch` when `expectedVersion` is the stored version, or when it is older but
 * none of the fields the patch changes were changed by someone else since (a merge;
 * the event says `mergedFromVersion`). Otherwise CONFLICT with the current record and
 * the contested fields. The event carries only the fields whose value changed; a patch
 * that changes nothing returns the record as it is, without a new version or event.
 */
export async function updateRecord<D extends AnyModule>(actor: Actor, module: D, input: UpdateInput<ModulePatch<D>>, options: WriteOptions = {}): Promise<ModuleRecord<D>> {
  return recordOf(module, await updateAnyRecord(actor, module, input, options));
}

async function updateAnyRecord(actor: Actor, module: AnyModule, input: UpdateInput, options: WriteOptions) {
  const { deps, user } = actor;
  const patch = normalizeInput(module, input.patch);
  return commitChange(
    deps,
    user.orgId,
    async (tx) => {
      const current = await recordInOrg(tx, module, user.orgId, input.id);
      if (input.overridesVersion !== undefined && input.overridesVersion > current.version) {
        throw new TRPCError({ code: 'BAD_REQUEST', message: `overridesVersion: The ${module.entity.toLowerCase()} has no version ${input.overridesVersion} yet` });
      }
      let mergedFromVersion: number | null = null;
      if (current.version !== input.expectedVersion) {
        // A stale version is merged when no field it changes was changed by someone else since.
        const contested = await findContestedFields(tx, user, input.id, current, input.expectedVersion, patch);
        if (contested === null || contested.length > 0) {
          const fields = contested?.map((conflict) => conflict.field).join(', ');
          throw new TRPCError({
            code: 'CONFLICT',
            message: fields
              ? `Someone else changed ${fields} of this ${module.entity.toLowerCase()} since version ${input.expectedVersion}`
              : `The ${module.entity.toLowerCase()} is at version ${current.version}, not ${input.expectedVersion}`,
            cause: new VersionConflict(current, contested ?? []),
          });
        }
        mergedFromVersion = input.expectedVersion;
      }
      const changed = changedFields(current, patch);
      if (Object.keys(changed).length === 0) return { result: current };
      checkRules(module, { ...current, ...changed });
      await checkRefs(tx, module, user.orgId, changed);
      // The org's log lock (taken by commitChange) makes this read-check-write atomic.
      const updated = toWire(
        await delegateOf(tx, module).update({
          where: { id: input.id },
          data: { ...toDbData(module, changed), version: { increment: 1 }, updatedById: user.id },
        }),
      );
      return { result: updated, event: { ...recordEvent(module, user, 'updated', updated), before: current, mergedFromVersion, overridesVersion: input.overridesVersion ?? null } };
    },
    {
      idempotency: idempotencyOf(actor, [module.name, 'update'], { ...input, patch }),
      statement: await updateStatement(actor, module, input, patch),
      strategy: options.strategy,
    },
  );
}

/** The fields a patch changes, with their new values. */
function changedFields(current: WireRecord, patch: Record<string, unknown>): Record<string, unknown> {
  const changed: Record<string, unknown> = {};
  for (const [field, to] of Object.entries(patch)) if (current[field] !== to) changed[field] = to;
  return changed;
}

/**
 * The common update as one statement: written only if the record is still at
 * `expectedVersion` and the patch changes something. Otherwise (not found, merges,
 * conflicts, no-op patches) the general form reads the record under the org's lock.
 */
async function updateStatement(actor: Actor, module: AnyModule, input: UpdateInput, patch: Record<string, unknown>) {
  const { deps, user } = actor;
  // Rare (a person's choice after a conflict), and only the general form writes it.
  if (!setsNoRefs(module, patch) || input.overridesVersion !== undefined) return undefined;
  if (module.check) {
    // A rule across fields is checked on the record as the patch would leave it: read it first.
    const row = await delegateOf(deps.db, module).findFirst({ where: { id: input.id, orgId: user.orgId } });
    if (!row || row.version !== input.expectedVersion) return undefined;
    const current = toWire(row);
    checkRules(module, { ...current, ...changedFields(current, patch) });
  }
  // What the patch sets, as the event would carry it: enough for the effects to decide.
  const preview = Object.fromEntries(Object.entries(patch).map(([field, to]) => [field, { from: null, to }]));
  return recordStatement(
    deps.db,
    module,
    { action: 'updated', userId: user.id, preview },
    updateRecordIfChanged({ id: input.id, orgId: user.orgId, version: input.expectedVersion }, toDbData(module, patch), { updatedAt: new Date(), updatedById: user.id }),
  );
}

/** Fields every update event carries; they say who and when, not what. */
const BOOKKEEPING_FIELDS = new Set(['updatedAt', 'updatedById', 'version']);

/**
 * The fields of `patch` that someone other than `user` changed after `baseVersion`
 * (with the current value and who changed it); null when the history cannot tell
 * (a version from the future, or events pruned by retention).
 */
async function findContestedFields(
  tx: Tx,
  user: PublicUser,
  recordId: string,
  current: WireRecord,
  baseVersion: number,
  patch: Record<string, unknown>,
): Promise<FieldConflict[] | null> {
  if (baseVersion > current.version) return null;
  const since = await tx.event.findMany({
    where: { orgId: user.orgId, recordId, version: { gt: baseVersion } },
    orderBy: { version: 'asc' },
    select: { version: true, action: true, userId: true, data: true },
  });
  if (since.length !== current.version - baseVersion || since.some((event) => event.action !== 'updated')) return null;
  const lastChange = new Map<string, { userId: string | null; version: number }>();
  for (const event of since) {
    for (const field of Object.keys(event.data as object)) {
      if (!BOOKKEEPING_FIELDS.has(field)) lastChange.set(field, { userId: event.userId, version: event.version });
    }
  }
  const contested: FieldConflict[] = [];
  for (const [field, value] of Object.entries(patch)) {
    const change = lastChange.get(field);
    if (!change || change.userId === user.id || current[field] === value) continue;
    contested.push({ field, value: current[field], changedById: change.userId ?? '', version: change.version });
  }
  return contested;
}

export async function deleteRecord(actor: Actor, module: AnyModule, input: { id: string; expectedVersion?: number | undefined }, options: WriteOptions = {}) {
  const { deps, user } = actor;
  return commitChange(
    deps,
    user.orgId,
    async (tx) => {
      const last = await recordInOrg(tx, module, user.orgId, input.id);
      if (input.expectedVersion !== undefined && last.version !== input.expectedVersion) {
        throw new TRPCError({
          code: 'CONFLICT',
          message: `The ${module.entity.toLowerCase()} is at version ${last.version}, not ${input.expectedVersion}`,
          cause: new VersionConflict(last),
        });
      }
      await delegateOf(tx, module).delete({ where: { id: input.id } });
      return { result: { id: input.id }, event: recordEvent(module, user, 'deleted', last) };
    },
    {
      idempotency: idempotencyOf(actor, [module.name, 'delete'], input),
      statement: await recordStatement(
        deps.db,
        module,
        { action: 'deleted', userId: user.id, preview: {} },
        deleteRecordAt({ id: input.id, orgId: user.orgId, version: input.expectedVersion }),
      ),
      strategy: options.strategy,
    },
  );
}

export function recordEvent(module: AnyModule, user: PublicUser, action: RecordAction, record: WireRecord): RecordEventDraft {
  return { orgId: user.orgId, module: module.name, action, userId: user.id, record };
}
