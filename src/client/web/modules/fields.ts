import { z } from 'zod';
import { modules, type ModuleName, type RefTarget } from '../../../shared/modules.ts';

/** How a field is shown and edited, derived from its zod schema and the module definition. */
export type FieldKind = 'text' | 'textarea' | 'email' | 'tel' | 'number' | 'money' | 'datetime' | 'enum' | 'ref';

export interface FieldSpec {
  name: string;
  kind: FieldKind;
  /** Accepts null (the field can be cleared). */
  nullable: boolean;
  required: boolean;
  options?: readonly string[];
  ref?: RefTarget;
  /** For numbers: the input's step. */
  step?: number;
  min?: number;
  max?: number;
}

function unwrap(schema: z.ZodType): { inner: z.ZodType; nullable: boolean } {
  let inner = schema;
  let nullable = false;
  while (inner instanceof z.ZodNullable || inner instanceof z.ZodOptional) {
    nullable = true;
    inner = inner.unwrap() as z.ZodType;
  }
  return { inner, nullable };
}

function specOf(module: ModuleName, name: string): FieldSpec {
  const definition = modules[module];
  const { inner, nullable } = unwrap((definition.fields as Record<string, z.ZodType>)[name]!);
  const required = (definition.required as readonly string[]).includes(name);
  const base = { name, nullable, required };
  if ((definition.bigIntFields as readonly string[]).includes(name)) return { ...base, kind: 'money', step: 0.01, min: 0 };
  if ((definition.dateFields as readonly string[]).includes(name)) return { ...base, kind: 'datetime' };
  const ref = definition.refs[name];
  if (ref) return { ...base, kind: 'ref', ref };
  if (inner instanceof z.ZodEnum) return { ...base, kind: 'enum', options: inner.options as readonly string[] };
  if (inner instanceof z.ZodNumber) {
    const step = inner.format === 'safeint' || inner.isInt ? 1 : name === 'baths' ? 0.5 : 0.1;
    return { ...base, kind: 'number', step, min: inner.minValue ?? undefined, max: inner.maxValue ?? undefined };
  }
  if (inner instanceof z.ZodEmail) return { ...base, kind: 'email' };
  if (name === 'phone') return { ...base, kind: 'tel' };
  if (inner instanceof z.ZodString && (inner.maxLength ?? 0) >= 1000) return { ...base, kind: 'textarea' };
  return { ...base, kind: 'text' };
}

const cache = new Map<ModuleName, FieldSpec[]>();

/** Every editable field of a module, in definition order. */
export function fieldsOf(module: ModuleName): FieldSpec[] {
  let specs = cache.get(module);
  if (!specs) {
    specs = modules[module].fieldNames.map((name) => specOf(module, name as string));
    cache.set(module, specs);
  }
  return specs;
}

export function fieldOf(module: ModuleName, name: string): FieldSpec {
  const spec = fieldsOf(module).find((field) => field.name === name);
  if (!spec) throw new Error(`${module} has no field ${name}`);
  return spec;
}
