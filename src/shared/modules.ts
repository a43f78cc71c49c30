import { z } from 'zod';
import { withIdempotencyKey } from './mutations.ts';
import { idSchema as id, line, plain, text } from './text.ts';

/**
 * The six CRM modules, defined once. Server routers, the event type, the client
 * and the seed are all derived from these definitions: a field is added here and
 * nowhere else (plus its column in prisma/schema.prisma).
 *
 * Field schemas describe the wire form: dates are ISO-8601 strings, money is
 * integer cents, optional fields accept `null` to clear them.
 */

const isoDateTime = z.iso.datetime({ offset: true });
const cents = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const email = z.email().max(254);
const phone = z
  .string()
  .trim()
  .regex(/^[+0-9 ().-]{3,32}$/, 'Invalid phone number');

export const JOB_STATUSES = ['new', 'scheduled', 'in_progress', 'done', 'cancelled'] as const;
export const ESCROW_STATUSES = ['opened', 'in_escrow', 'pending', 'closed', 'cancelled'] as const;
export const LISTING_STATUSES = ['coming_soon', 'active', 'pending', 'sold', 'withdrawn'] as const;
export const CLIENT_KINDS = ['buyer', 'seller', 'both'] as const;
export const LEAD_STATUSES = ['new', 'contacted', 'qualified', 'converted', 'lost'] as const;
export const APPOINTMENT_STATUSES = ['scheduled', 'confirmed', 'completed', 'cancelled'] as const;

export const MODULE_NAMES = ['jobs', 'escrows', 'listings', 'clients', 'leads', 'appointments'] as const;
export type ModuleName = (typeof MODULE_NAMES)[number];
export const moduleNameSchema = z.enum(MODULE_NAMES);

/** What another record's id in a field must point at, checked within the caller's org. */
export type RefTarget = ModuleName | 'users' | 'teams';

/** The create input: the required fields as given, every other one optional. */
type CreateSchema<F extends z.ZodRawShape, R extends keyof F> = z.ZodObject<{ [K in keyof F]: K extends R ? F[K] : z.ZodOptional<F[K]> }, z.core.$strict>;

/**
 * `fields.partial().required(mask)`, typed. zod computes the type of `.required(mask)`
 * from the mask's literal keys, and here they are a type parameter (`R`), which it
 * cannot map: the one cast between the module definitions and their schemas.
 */
function createSchemaOf<F extends z.ZodRawShape, R extends keyof F & string>(fields: z.ZodObject<F, z.core.$strict>, required: readonly R[]): CreateSchema<F, R> {
  const partial: z.ZodObject<z.ZodRawShape, z.core.$strict> = fields.partial();
  return partial.required(Object.fromEntries(required.map((key) => [key, true]))) as unknown as CreateSchema<F, R>;
}

interface ModuleOptions<E extends string, Model extends string, F extends z.ZodRawShape, R extends keyof F & string, S extends keyof F & string> {
  /** Upper-case prefix of event types, e.g. `JOB` → `JOB_UPDATED`. */
  entity: E;
  /** The Prisma model delegate name, e.g. `job`. */
  model: Model;
  fields: F;
  /** The fields a person must give on create; all others are optional or defaulted. */
  required: readonly R[];
  /** Text fields matched by `list({ search })`. */
  search: readonly (keyof F & string)[];
  /** The field `list({ status })` filters on: one of the enum fields. */
  statusField: S;
  /** ISO strings on the wire, `Date` in the database. */
  dateFields?: readonly (keyof F & string)[];
  /** Integer cents stored as BigInt (prices can exceed 2^31 cents). */
  bigIntFields?: readonly (keyof F & string)[];
  refs?: Partial<Record<keyof F & string, RefTarget>>;
  /** A rule across fields, checked on the merged state of create and update. */
  check?: (record: Record<string, unknown>) => { field: string; message: string } | undefined;
}

function defineModule<
  const N extends ModuleName,
  const E extends string,
  const Model extends string,
  F extends z.ZodRawShape & Record<S, z.ZodEnum>,
  R extends keyof F & string,
  S extends keyof F & string,
>(name: N, options: ModuleOptions<E, Model, F, R, S>) {
  const fields = z.strictObject(options.fields);
  const statusSchema: F[S] = options.fields[options.statusField];
  const createInput = createSchemaOf(fields, options.required);
  return {
    name,
    ...options,
    dateFields: options.dateFields ?? [],
    bigIntFields: options.bigIntFields ?? [],
    refs: (options.refs ?? {}) as Partial<Record<string, RefTarget>>,
    fieldNames: Object.keys(options.fields) as (keyof F & string)[],
    createInput,
    /** `create`'s input: the fields and the idempotencyKey every mutation takes. Built here, where zod still sees the module's own fields. */
    createMutationInput: createInput.extend(withIdempotencyKey),
    patch: fields.partial().refine((patch) => Object.keys(patch).length > 0, { message: 'The patch changes no field' }),
    listInput: z.strictObject({
      limit: z.number().int().min(1).max(200).default(50),
      cursor: plain().min(1).max(200).optional(),
      /** Sent by @trpc/react-query's infinite queries; pages only go forward. */
      direction: z.enum(['forward', 'backward']).optional(),
      search: line(200).optional(),
      status: statusSchema.optional(),
      /** Only the records of this team. */
      teamId: id.optional(),
    }),
    record: z.object({ ...recordMeta, ...fields.shape }),
  };
}

const recordMeta = {
  id,
  orgId: id,
  version: z.number().int().positive(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
  createdById: id,
  updatedById: id,
};

export const modules = {
  jobs: defineModule('jobs', {
    entity: 'JOB',
    model: 'job',
    fields: {
      title: line().min(1),
      status: z.enum(JOB_STATUSES),
      scheduledAt: isoDateTime.nullable(),
      assigneeId: id.nullable(),
      clientId: id.nullable(),
      estimatedHours: z.number().nonnegative().max(10_000).nullable(),
      notes: text(5000).nullable(),
      /** The team (division, crew) it belongs to; null: the whole org. */
      teamId: id.nullable(),
    },
    required: ['title'],
    search: ['title', 'notes'],
    statusField: 'status',
    dateFields: ['scheduledAt'],
    refs: { assigneeId: 'users', clientId: 'clients', teamId: 'teams' },
  }),
  escrows: defineModule('escrows', {
    entity: 'ESCROW',
    model: 'escrow',
    fields: {
      escrowNumber: line(64).nullable(),
      propertyAddress: line(300).min(1),
      purchasePriceCents: cents.nullable(),
      status: z.enum(ESCROW_STATUSES),
      closingDate: isoDateTime.nullable(),
      listingId: id.nullable(),
      buyerClientId: id.nullable(),
      /** The team (division, crew) it belongs to; null: the whole org. */
      teamId: id.nullable(),
    },
    required: ['propertyAddress'],
    search: ['escrowNumber', 'propertyAddress'],
    statusField: 'status',
    dateFields: ['closingDate'],
    bigIntFields: ['purchasePriceCents'],
    refs: { listingId: 'listings', buyerClientId: 'clients', teamId: 'teams' },
  }),
  listings: defineModule('listings', {
    entity: 'LISTING',
    model: 'listing',
    fields: {
      mlsNumber: line(64).nullable(),
      address: line(300).min(1),
      listPriceCents: cents.nullable(),
      status: z.enum(LISTING_STATUSES),
      beds: z.number().int().min(0).max(100).nullable(),
      baths: z.number().min(0).max(100).multipleOf(0.5).nullable(),
      sqft: z.number().int().min(0).max(10_000_000).nullable(),
      /** The team (division, crew) it belongs to; null: the whole org. */
      teamId: id.nullable(),
    },
    required: ['address'],
    search: ['mlsNumber', 'address'],
    statusField: 'status',
    refs: { teamId: 'teams' },
    bigIntFields: ['listPriceCents'],
  }),
  clients: defineModule('clients', {
    entity: 'CLIENT',
    model: 'client',
    fields: {
      firstName: line(100).min(1),
      lastName: line(100).min(1),
      email: email.nullable(),
      phone: phone.nullable(),
      kind: z.enum(CLIENT_KINDS),
      notes: text(5000).nullable(),
      /** The team (division, crew) it belongs to; null: the whole org. */
      teamId: id.nullable(),
    },
    required: ['firstName', 'lastName'],
    search: ['firstName', 'lastName', 'email', 'phone'],
    statusField: 'kind',
    refs: { teamId: 'teams' },
  }),
  leads: defineModule('leads', {
    entity: 'LEAD',
    model: 'lead',
    fields: {
      name: line(200).min(1),
      email: email.nullable(),
      phone: phone.nullable(),
      source: line(100).nullable(),
      status: z.enum(LEAD_STATUSES),
      score: z.number().int().min(0).max(100).nullable(),
      assigneeId: id.nullable(),
      /** The team (division, crew) it belongs to; null: the whole org. */
      teamId: id.nullable(),
    },
    required: ['name'],
    search: ['name', 'email', 'phone', 'source'],
    statusField: 'status',
    refs: { assigneeId: 'users', teamId: 'teams' },
  }),
  appointments: defineModule('appointments', {
    entity: 'APPOINTMENT',
    model: 'appointment',
    fields: {
      title: line().min(1),
      startsAt: isoDateTime,
      endsAt: isoDateTime,
      location: line(300).nullable(),
      clientId: id.nullable(),
      status: z.enum(APPOINTMENT_STATUSES),
      reminderMinutes: z.number().int().min(0).max(10_080).nullable(),
      /** Who the appointment is for: gets its reminder (the creator when empty). */
      assigneeId: id.nullable(),
      /** The team (division, crew) it belongs to; null: the whole org. */
      teamId: id.nullable(),
    },
    required: ['title', 'startsAt', 'endsAt'],
    search: ['title', 'location'],
    statusField: 'status',
    dateFields: ['startsAt', 'endsAt'],
    refs: { clientId: 'clients', assigneeId: 'users', teamId: 'teams' },
    check: (record) =>
      Date.parse(String(record.endsAt)) < Date.parse(String(record.startsAt)) ? { field: 'endsAt', message: 'An appointment cannot end before it starts' } : undefined,
  }),
};

export type Modules = typeof modules;

export type AnyModule = Modules[ModuleName];

/** The field that names a record (its first required field): a job's title, a lead's name. */
export function titleFieldOf(module: ModuleName): string {
  return (modules[module].required as readonly string[])[0]!;
}

/**
 * A module's types from its definition, for code generic over the module (`D extends AnyModule`).
 * The inputs are as parsed (zod's output): what the records service receives.
 */
export type ModuleRecord<D extends AnyModule> = z.output<D['record']>;
export type ModuleCreateInput<D extends AnyModule> = z.output<D['createInput']>;
export type ModulePatch<D extends AnyModule> = z.output<D['patch']>;
/** `limit` defaulted. */
export type ModuleListInput<D extends AnyModule> = z.output<D['listInput']>;

/** The same types by the module's name. */
export type RecordOf<M extends ModuleName> = ModuleRecord<Modules[M]>;
export type CreateInputOf<M extends ModuleName> = ModuleCreateInput<Modules[M]>;
export type PatchOf<M extends ModuleName> = ModulePatch<Modules[M]>;

export const idSchema = id;
