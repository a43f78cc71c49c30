import { useId, useState, type FormEvent } from 'react';
import { modules, type ModuleName } from '../../../shared/modules.ts';
import { FieldInput } from '../components/FieldInput.tsx';
import { fieldErrorsOf, messageOf } from '../modules/api.ts';
import { fieldsOf } from '../modules/fields.ts';
import { fromInputValue } from '../modules/format.ts';
import { fieldLabel, moduleUi } from '../modules/ui.ts';
import { useOffline } from '../offline/OfflineProvider.tsx';
import { QueuedOffline } from '../offline/queue.ts';
import { Link, navigateFrom } from '../router.tsx';

/** The form as it opens: enums at their first option, the rest empty. */
const emptyForm = (module: ModuleName) => Object.fromEntries(fieldsOf(module).map((spec) => [spec.name, spec.kind === 'enum' ? spec.options![0]! : '']));

/**
 * Any module's "New …" form: the module's fields, checked by its own create schema. It goes
 * through the device's queue: online the new record opens at once; offline it is kept on
 * this device (shown as a pending row on the list) and created when the connection is back.
 */
export function CreatePage({ module }: { module: ModuleName }) {
  const ui = moduleUi[module];
  const specs = fieldsOf(module);
  const formId = useId();
  const { queue } = useOffline();
  const [values, setValues] = useState<Record<string, string>>(() => emptyForm(module));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [creating, setCreating] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  /** The title of the last record kept on this device, to say so. */
  const [keptTitle, setKeptTitle] = useState<string | null>(null);

  const create = async (input: Record<string, unknown>) => {
    if (!queue) return;
    setCreating(true);
    setFailure(null);
    setKeptTitle(null);
    try {
      const record = await queue.create(module, input);
      navigateFrom(`/${module}/new`, `/${module}/${record.id}`, { replace: true });
    } catch (error) {
      if (error instanceof QueuedOffline) {
        // Kept: the form is free for the next one.
        setKeptTitle(ui.title(input) || '(untitled)');
        setValues(emptyForm(module));
      } else {
        setFailure(error);
        setErrors(Object.fromEntries(Object.entries(fieldErrorsOf(error)).map(([field, messages]) => [field, messages[0] ?? 'Invalid'])));
      }
    } finally {
      setCreating(false);
    }
  };

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
    if (checked.success && Object.keys(found).length === 0) void create(checked.data);
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
        {failure && Object.keys(fieldErrorsOf(failure)).length === 0 ? (
          <p className="error wide" role="alert">
            Not created: {messageOf(failure)}
          </p>
        ) : null}
        {keptTitle !== null ? (
          <p className="notice wide" role="status" data-testid="create-kept">
            Saved on this device: <strong>{keptTitle}</strong> will be created when the connection is back. It shows on the{' '}
            <Link href={`/${module}`}>{ui.plural.toLowerCase()}</Link> list, waiting to sync.
          </p>
        ) : null}
        {Object.keys(errors).length > 0 ? (
          <p className="error wide" role="alert">
            Check the highlighted fields.
          </p>
        ) : null}
        <div className="form-actions wide">
          <button type="submit" className="button primary" disabled={creating || !queue}>
            {creating ? 'Creating…' : `Create ${ui.singular}`}
          </button>
          <Link href={`/${module}`} className="button ghost">
            Cancel
          </Link>
        </div>
      </form>
    </section>
  );
}
