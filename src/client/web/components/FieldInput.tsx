import type { ModuleName } from '../../../shared/modules.ts';
import type { FieldSpec } from '../modules/fields.ts';
import { recordApi } from '../modules/api.ts';
import { enumLabel, moduleUi } from '../modules/ui.ts';
import { trpc } from '../trpc.ts';
import { usePeople } from '../people/people.ts';
import { useSession } from '../session/SessionContext.tsx';

export interface FieldInputProps {
  id: string;
  spec: FieldSpec;
  /** The input's text (dollars for money, local date-time for dates). */
  value: string;
  onChange: (value: string) => void;
  invalid?: boolean;
  describedBy?: string;
  autoFocus?: boolean;
  onKeyDown?: (event: React.KeyboardEvent<HTMLElement>) => void;
}

/** The one input for any field of any module, chosen by the field's kind. */
export function FieldInput({ id, spec, value, onChange, invalid, describedBy, autoFocus, onKeyDown }: FieldInputProps) {
  const common = {
    id,
    name: spec.name,
    'aria-invalid': invalid || undefined,
    'aria-describedby': describedBy,
    'aria-required': spec.required || undefined,
    autoFocus,
    onKeyDown,
    className: 'input',
  };
  switch (spec.kind) {
    case 'enum':
      return (
        <select {...common} value={value} onChange={(event) => onChange(event.target.value)}>
          {spec.options!.map((option) => (
            <option key={option} value={option}>
              {enumLabel(option)}
            </option>
          ))}
        </select>
      );
    case 'ref':
      if (spec.ref === 'users') return <UserSelect {...common} value={value} onChange={onChange} />;
      if (spec.ref === 'teams') return <TeamSelect {...common} value={value} onChange={onChange} />;
      return <RecordSelect {...common} target={spec.ref!} value={value} onChange={onChange} />;
    case 'textarea':
      return <textarea {...common} rows={4} value={value} onChange={(event) => onChange(event.target.value)} />;
    case 'money':
      return (
        <span className="money-input">
          <span aria-hidden="true">$</span>
          <input {...common} type="text" inputMode="decimal" value={value} onChange={(event) => onChange(event.target.value)} />
        </span>
      );
    case 'number':
      return <input {...common} type="number" step={spec.step} min={spec.min} max={spec.max} value={value} onChange={(event) => onChange(event.target.value)} />;
    case 'datetime':
      return <input {...common} type="datetime-local" value={value} onChange={(event) => onChange(event.target.value)} />;
    case 'email':
      return <input {...common} type="email" autoComplete="off" value={value} onChange={(event) => onChange(event.target.value)} />;
    case 'tel':
      return <input {...common} type="tel" autoComplete="off" value={value} onChange={(event) => onChange(event.target.value)} />;
    default:
      return <input {...common} type="text" value={value} onChange={(event) => onChange(event.target.value)} />;
  }
}

type SelectProps = Omit<FieldInputProps, 'spec' | 'onChange'> & { onChange: (value: string) => void; className: string; name: string };

/** Another record of the org: the 200 newest of the target module. */
function RecordSelect({ target, value, onChange, ...props }: SelectProps & { target: ModuleName }) {
  const query = recordApi(target).list.useQuery({ limit: 200 });
  const items = query.data?.items ?? [];
  const known = !value || items.some((item) => item.id === value);
  return (
    <select {...props} value={value} onChange={(event) => onChange(event.target.value)}>
      <option value="">None</option>
      {!known ? <option value={value}>{query.isLoading ? 'Loading…' : `Other ${moduleUi[target].singular}`}</option> : null}
      {items.map((item) => (
        <option key={item.id} value={item.id}>
          {moduleUi[target].title(item as Record<string, unknown>)}
        </option>
      ))}
    </select>
  );
}

/** The org's people (`users.list`), you first marked as such; whoever is assigned now stays selectable. */
function UserSelect({ value, onChange, ...props }: SelectProps) {
  const { user } = useSession();
  const { people, byId, isLoading } = usePeople();
  // Until the directory answers, you are still a choice (and the current value keeps its place).
  const choices = people.length > 0 ? people : [{ id: user.id, name: user.name }];
  const known = !value || choices.some((person) => person.id === value) || byId.has(value);
  return (
    <select {...props} value={value} onChange={(event) => onChange(event.target.value)}>
      <option value="">Unassigned</option>
      {!known ? <option value={value}>{isLoading ? 'Loading…' : 'Unknown person'}</option> : null}
      {choices.map((person) => (
        <option key={person.id} value={person.id}>
          {person.id === user.id ? `${person.name} (you)` : person.name}
        </option>
      ))}
    </select>
  );
}

/** The org's teams (`teams.list`); none: the whole org. */
function TeamSelect({ value, onChange, ...props }: SelectProps) {
  const teams = trpc.teams.list.useQuery(undefined, { staleTime: 60_000 });
  const known = !value || teams.data?.some((team) => team.id === value);
  return (
    <select {...props} value={value} onChange={(event) => onChange(event.target.value)}>
      <option value="">No team</option>
      {!known ? <option value={value}>{teams.isLoading ? 'Loading…' : 'Unknown team'}</option> : null}
      {teams.data?.map((team) => (
        <option key={team.id} value={team.id}>
          {team.name}
        </option>
      ))}
    </select>
  );
}
