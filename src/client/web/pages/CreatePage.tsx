import { useId, useState, type FormEvent } from 'react';
import { modules, type ModuleName } from '../../../shared/modules.ts';
import { FieldInput } from '../components/FieldInput.tsx';
import { fieldErrorsOf, messageOf, recordApi } from '../modules/api.ts';
import { fieldsOf } from '../modules/fields.ts';
import { fromInputValue } from '../modules/format.ts';
import { fieldLabel, moduleUi } from '../modules/ui.ts';
import { Link, navigate } from '../router.tsx';

/** Any module's "New …" form: the module's fields, checked by its own create schema. */
export function CreatePage({ module }: { module: ModuleName }) {
  const ui = moduleUi[module];
  const specs = fieldsOf(module);
  const formId = useId();
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(specs.map((spec) => [spec.name, spec.kind === 'enum' ? spec.options![0]! : ''])));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const create = recordApi(module).create.useMutation({
    onSuccess: (record) => navigate(`/${module}/${record.id}`, { replace: true }),
    onError: (error) => setErrors(Object.fromEntries(Object.entries(fieldErrorsOf(error)).map(([field, messages]) => [field, messages[0] ?? 'Invalid']))),
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const input: Record<string, unknown> = {};
    const found: Record<string, string> = {};
    for (const spec of specs) {
      const text = values[spec.name] ?? '';
      if (text.trim() === '') {
        if (spec.required) found[spec.name] = 'Required';
        continue;
      }
      const parsed = fromInputValue(spec, text);
      if ('error' in parsed) found[spec.name] = parsed.error;
      else input[spec.name] = parsed.value;
    }
    const checked = modules[module].createInput.safeParse(input);
    if (!checked.success) {
      for (const issue of checked.error.issues) {
        const field = String(issue.path[0] ?? '');
        found[field] ??= issue.message;
      }
    }
    setErrors(found);
    // What is sent is what the module's schema made of it (the server parses it the same way again).
    if (checked.success && Object.keys(found).length === 0) create.mutate(checked.data);
  };

  return (
    <section aria-labelledby="create-heading" className="create">
      <p className="breadcrumb">
        <Link href={`/${module}`}>← {ui.plural}</Link>
      </p>
      <h1 id="create-heading">New {ui.singular}</h1>
      <form onSubmit={submit} noValidate className="form-grid">
        {specs.map((spec) => {
          const id = `${formId}-${spec.name}`;
          const error = errors[spec.name];
          return (
            <div key={spec.name} className={`form-row${spec.kind === 'textarea' ? ' wide' : ''}`}>
              <label htmlFor={id}>
                {fieldLabel(module, spec.name)}
                {spec.required ? (
                  // The input says it is required (aria-required); the star is for the eye only.
                  <span className="required" aria-hidden="true">
                    {' '}
                    *
                  </span>
                ) : null}
              </label>
              <FieldInput
                id={id}
                spec={spec}
                value={values[spec.name] ?? ''}
                onChange={(text) => {
                  setValues((current) => ({ ...current, [spec.name]: text }));
                  setErrors(({ [spec.name]: _fixed, ...rest }) => rest);
                }}
                invalid={Boolean(error)}
                describedBy={error ? `${id}-error` : undefined}
              />
              {error ? (
                <p id={`${id}-error`} className="field-error">
                  {error}
                </p>
              ) : null}
            </div>
          );
        })}
        {create.isError && Object.keys(fieldErrorsOf(create.error)).length === 0 ? (
          <p className="error wide" role="alert">
            Not created: {messageOf(create.error)}
          </p>
        ) : null}
        {Object.keys(errors).length > 0 ? (
          <p className="error wide" role="alert">
            Check the highlighted fields.
          </p>
        ) : null}
        <div className="form-actions wide">
          <button type="submit" className="button primary" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : `Create ${ui.singular}`}
          </button>
          <Link href={`/${module}`} className="button ghost">
            Cancel
          </Link>
        </div>
      </form>
    </section>
  );
}
