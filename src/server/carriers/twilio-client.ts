import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';

/** Where the official client sends its REST calls; `TWILIO_API_URL` replaces it (a regional edge, or a stand-in in tests). */
export const TWILIO_API_URL = 'https://api.twilio.com';

export interface TwilioClientOptions {
  /** `TWILIO_API_URL`; absent: Twilio's own. */
  apiUrl?: string | undefined;
  /** One REST call's limit; past it the attempt's outcome is unknown (carriers/outbox.ts). */
  timeoutMs: number;
}

/**
 * The official client's HTTP layer, with the API's base URL swapped: the public way the
 * `twilio` package offers to change how it talks (a custom `httpClient`), so the real client
 * code runs unchanged against any base URL. Its own retries on 429 stay off: the outbox retries.
 */
class BaseUrlRequestClient extends twilio.RequestClient {
  readonly #base: string;
  constructor(base: string, timeoutMs: number) {
    super({ timeout: timeoutMs, autoRetry: false, keepAlive: true });
    this.#base = base.replace(/\/+$/, '');
  }
  override request<TData>(opts: RequestClient.RequestOptions<TData>) {
    const uri = opts.uri.startsWith(TWILIO_API_URL) ? this.#base + opts.uri.slice(TWILIO_API_URL.length) : opts.uri;
    return super.request<TData>({ ...opts, uri });
  }
}

export type TwilioClient = ReturnType<typeof twilio>;

/** A client of one Twilio account (its Account SID and Auth Token). */
export function createTwilioClient(credentials: { accountSid: string; authToken: string }, options: TwilioClientOptions): TwilioClient {
  const apiUrl = options.apiUrl ?? TWILIO_API_URL;
  return twilio(credentials.accountSid, credentials.authToken, {
    ...(apiUrl === TWILIO_API_URL ? {} : { httpClient: new BaseUrlRequestClient(apiUrl, options.timeoutMs) }),
    timeout: options.timeoutMs,
    autoRetry: false,
  });
}
