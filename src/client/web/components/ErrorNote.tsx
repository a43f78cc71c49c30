import { messageOf } from '../modules/api.ts';

/**
 * An error said to the user, announced by screen readers (`role="alert"`); nothing while there
 * is none. `error` is the text, or a failed call's error (its message is shown); `prefix` says
 * what failed ("Could not load the calls"); `inline` sits in a line of a form rather than under it.
 */
export function ErrorNote({ error, prefix, inline = false }: { error: unknown; prefix?: string; inline?: boolean }) {
  if (!error) return null;
  const text = typeof error === 'string' ? error : messageOf(error);
  const Tag = inline ? 'span' : 'p';
  return (
    <Tag className="error" role="alert">
      {prefix ? `${prefix}: ${text}` : text}
    </Tag>
  );
}
