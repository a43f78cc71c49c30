import { useEffect, useId, useRef, useState } from 'react';
import { messageOf } from '../modules/api.ts';
import { navigate } from '../router.tsx';
import { trpc } from '../trpc.ts';

/**
 * "Text" on a client's or lead's page: writes them an SMS, continuing their open
 * conversation or starting one, and opens it in the inbox.
 */
export function TextContact({ target, name }: { target: { clientId: string } | { leadId: string }; name: string }) {
  const [open, setOpen] = useState(false);
  const [body, setBody] = useState('');
  const fieldId = useId();
  const field = useRef<HTMLTextAreaElement>(null);
  // Opened by a click on Text: the keyboard goes on to the message it asked for.
  useEffect(() => {
    if (open) field.current?.focus();
  }, [open]);
  const start = trpc.conversations.start.useMutation({ onSuccess: ({ conversation }) => navigate(`/inbox/${conversation.id}`) });
  if (!open) {
    return (
      <button type="button" className="button" onClick={() => setOpen(true)}>
        Text
      </button>
    );
  }
  return (
    <form
      className="confirm"
      aria-label={`Text ${name}`}
      onSubmit={(event) => {
        event.preventDefault();
        if (body.trim()) start.mutate({ ...target, body });
      }}
    >
      <label htmlFor={fieldId} className="visually-hidden">
        Message to {name}
      </label>
      <textarea ref={field} id={fieldId} rows={2} value={body} maxLength={1600} placeholder={`Message to ${name}`} onChange={(event) => setBody(event.target.value)} />
      <button type="submit" className="button primary" disabled={!body.trim() || start.isPending}>
        Send
      </button>
      <button
        type="button"
        className="button ghost"
        onClick={() => {
          setOpen(false);
          start.reset();
        }}
      >
        Cancel
      </button>
      {start.isError ? (
        <span className="field-error" role="alert">
          {messageOf(start.error)}
        </span>
      ) : null}
    </form>
  );
}
