import { MAX_UPLOAD_BYTES, UPLOAD_TYPES, type UploadedFile } from '../../../shared/uploads.ts';

/** What the file picker offers: the types the carriers take. */
export const ACCEPT = UPLOAD_TYPES.join(',');

/** Uploads one file for a reply (`POST /uploads`); throws with the server's words when it is refused. */
export async function uploadFile(token: string, file: File): Promise<UploadedFile> {
  // Said here rather than after sending 20 MB only to hear it is too large.
  if (file.size > MAX_UPLOAD_BYTES) throw new Error(`${file.name} is larger than ${MAX_UPLOAD_BYTES / 1024 / 1024} MB, which carriers refuse`);
  const response = await fetch(`/uploads?name=${encodeURIComponent(file.name)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': file.type || 'application/octet-stream' },
    body: file,
  });
  const answer = (await response.json().catch(() => ({}))) as Partial<UploadedFile> & { error?: string };
  if (!response.ok) throw new Error(`${file.name}: ${answer.error ?? `refused (${response.status})`}`);
  return answer as UploadedFile;
}

/** Takes back an upload not sent (the composer's ×); a failure only leaves it to be cleared after a day. */
export async function discardUpload(token: string, id: string): Promise<void> {
  await fetch(`/uploads/${encodeURIComponent(id)}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }).catch(() => {});
}
