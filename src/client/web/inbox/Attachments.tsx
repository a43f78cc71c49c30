import { useEffect, useState } from 'react';
import type { MessageMedia } from '../../../shared/comms.ts';
import { useSession } from '../session/SessionContext.tsx';

/**
 * A message's photos and documents: a customer's, or files an agent attached. The server
 * serves them (fetching a customer's from the carrier) for a signed-in
 * user of the org (GET media.path with the bearer token), so the page fetches them with its
 * token and shows them from a blob: URL; an <img src> could not send the token.
 */
export function Attachments({ media }: { media: MessageMedia[] }) {
  if (!media.length) return null;
  return (
    <ul className="attachments" aria-label="Attachments">
      {media.map((item) => (
        <li key={item.path}>{item.contentType.startsWith('image/') ? <Photo item={item} /> : <Document item={item} />}</li>
      ))}
    </ul>
  );
}

function useFetchFile(item: MessageMedia) {
  const { token } = useSession();
  return async () => {
    const response = await fetch(item.path, { headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) throw new Error(`The attachment could not be loaded (${response.status})`);
    return URL.createObjectURL(await response.blob());
  };
}

function Photo({ item }: { item: MessageMedia }) {
  const load = useFetchFile(item);
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: loaded once per attachment path; `load` is a new function each render.
  useEffect(() => {
    let made: string | null = null;
    let stale = false;
    load().then(
      (blobUrl) => {
        made = blobUrl;
        if (stale) URL.revokeObjectURL(blobUrl);
        else setUrl(blobUrl);
      },
      (cause: Error) => !stale && setError(cause.message),
    );
    return () => {
      stale = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [item.path]);
  if (error) return <span className="muted">{error}</span>;
  return url ? <img className="attachment-photo" src={url} alt={item.name ?? 'Photo from the contact'} /> : <span className="muted">Loading photo…</span>;
}

function Document({ item }: { item: MessageMedia }) {
  const load = useFetchFile(item);
  const [error, setError] = useState<string | null>(null);
  const open = async () => {
    setError(null);
    try {
      const url = await load();
      const link = document.createElement('a');
      link.href = url;
      link.download = item.name ?? `attachment.${item.contentType.split('/')[1]?.replace(/[^a-z0-9]/gi, '') || 'bin'}`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (cause) {
      setError((cause as Error).message);
    }
  };
  return (
    <>
      <button type="button" className="link-button" onClick={() => void open()}>
        📎 {item.name ?? `Download ${item.contentType}`}
      </button>
      {error ? <span className="error"> {error}</span> : null}
    </>
  );
}
