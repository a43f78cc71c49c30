import { useState, type FormEvent } from 'react';
import { CARRIER_CHANNELS, type CarrierChannel } from '../../../shared/carriers.ts';
import { messageOf } from '../modules/api.ts';
import { trpc } from '../trpc.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';

/**
 * Admins: the carrier accounts the org's messages leave and arrive through. The secret is
 * typed once and never shown again; the webhook addresses are what to paste into Twilio.
 */
export function CarriersPanel() {
  const utils = trpc.useUtils();
  const carriers = trpc.carriers.list.useQuery();
  const [error, setError] = useState<string | null>(null);
  const disconnect = trpc.carriers.disconnect.useMutation({
    onSuccess: () => void utils.carriers.list.invalidate(),
    onError: (cause) => setError(messageOf(cause)),
  });
  return (
    <>
      <h2>Carriers</h2>
      <p className="muted">
        Replies to SMS and WhatsApp conversations leave through the org's carrier. Without one they are only recorded (for a relay of your own using the webhook settings).
      </p>
      <ErrorNote error={error} />
      <ul className="carriers" data-testid="carriers">
        {(carriers.data ?? []).map((carrier) => (
          <li key={carrier.id} data-testid={`carrier-${carrier.id}`}>
            <strong>{carrier.kind === 'twilio' ? 'Twilio' : 'WhatsApp Cloud'}</strong> {carrier.label} · {carrier.channels.join(', ')}
            {carrier.kind === 'twilio' ? (carrier.forwardTo ? ` · calls ring ${carrier.forwardTo}` : ' · calls go to voicemail') : ''}{' '}
            <button type="button" className="link-button" disabled={disconnect.isPending} onClick={() => disconnect.mutate({ id: carrier.id })}>
              Disconnect
            </button>
            <dl className="webhooks">
              {Object.entries(carrier.webhooks)
                .filter(([event]) => event in WEBHOOK_LABELS)
                .map(([event, url]) => (
                  <div key={event}>
                    <dt>{WEBHOOK_LABELS[event]}</dt>
                    <dd>
                      <code>{url}</code>
                    </dd>
                  </div>
                ))}
            </dl>
          </li>
        ))}
        {carriers.data?.length === 0 ? <li className="muted">No carrier connected.</li> : null}
      </ul>
      <Numbers />
      <ConnectTwilio />
      <ConnectWhatsApp />
    </>
  );
}

/** The numbers the org answers on: an inbound message or call to one of them is the org's. */
function Numbers() {
  const utils = trpc.useUtils();
  const numbers = trpc.numbers.list.useQuery();
  const [number, setNumber] = useState('');
  const done = { onSuccess: () => void utils.numbers.list.invalidate() };
  const create = trpc.numbers.create.useMutation(done);
  const remove = trpc.numbers.delete.useMutation(done);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ number: number.trim() }, { onSuccess: () => setNumber('') });
  };
  const error = create.error ?? remove.error;
  return (
    <form className="filters" onSubmit={submit} aria-label="The org's numbers">
      <ul className="numbers" data-testid="numbers">
        {(numbers.data ?? []).map((each) => (
          <li key={each}>
            <code>{each}</code>{' '}
            <button type="button" className="link-button" disabled={remove.isPending} onClick={() => remove.mutate({ number: each })}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <label>
        Add a number <input className="input" value={number} onChange={(e) => setNumber(e.target.value)} placeholder="+15551234567" />
      </label>
      <button type="submit" className="button" disabled={create.isPending || !number.trim()}>
        Add
      </button>
      <ErrorNote error={error} inline />
    </form>
  );
}

/** What to paste where, by webhook; the status callback is named by each message, nothing to configure. */
const WEBHOOK_LABELS: Record<string, string> = {
  sms: 'A message comes in (Twilio)',
  voice: 'A call comes in (Twilio)',
  whatsapp: 'Callback URL (Meta app › WhatsApp › Configuration; subscribe to "messages")',
};

function ConnectWhatsApp() {
  const utils = trpc.useUtils();
  const [fields, setFields] = useState({ phoneNumberId: '', accessToken: '', appSecret: '', verifyToken: '' });
  const connect = trpc.carriers.connect.useMutation({ onSuccess: () => void utils.carriers.list.invalidate() });
  const set = (name: keyof typeof fields) => (event: { target: { value: string } }) => setFields((now) => ({ ...now, [name]: event.target.value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const trimmed = Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, value.trim()])) as typeof fields;
    // The secrets leave the page once they are stored.
    connect.mutate({ kind: 'whatsapp_cloud', ...trimmed }, { onSuccess: () => setFields((now) => ({ ...now, accessToken: '', appSecret: '' })) });
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="Connect a WhatsApp Business number">
      <label>
        Phone number ID <input className="input" required value={fields.phoneNumberId} onChange={set('phoneNumberId')} autoComplete="off" />
      </label>
      <label>
        Access token <input className="input" required type="password" value={fields.accessToken} onChange={set('accessToken')} autoComplete="off" />
      </label>
      <label>
        App secret <input className="input" required type="password" value={fields.appSecret} onChange={set('appSecret')} autoComplete="off" />
      </label>
      <label>
        Verify token <input className="input" required value={fields.verifyToken} onChange={set('verifyToken')} autoComplete="off" />
      </label>
      <button type="submit" className="button primary" disabled={connect.isPending}>
        Connect WhatsApp
      </button>
      <ErrorNote error={connect.error} inline />
    </form>
  );
}

function ConnectTwilio() {
  const utils = trpc.useUtils();
  const [accountSid, setAccountSid] = useState('');
  const [authToken, setAuthToken] = useState('');
  const [forwardTo, setForwardTo] = useState('');
  const [channels, setChannels] = useState<CarrierChannel[]>(['sms']);
  const connect = trpc.carriers.connect.useMutation({ onSuccess: () => void utils.carriers.list.invalidate() });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    connect.mutate(
      { kind: 'twilio', accountSid: accountSid.trim(), authToken: authToken.trim(), channels, ...(forwardTo.trim() ? { forwardTo: forwardTo.trim() } : {}) },
      // The token leaves the page once it is stored.
      { onSuccess: () => setAuthToken('') },
    );
  };
  const toggle = (channel: CarrierChannel) => setChannels((now) => (now.includes(channel) ? now.filter((each) => each !== channel) : [...now, channel]));
  return (
    <form className="filters" onSubmit={submit} aria-label="Connect a Twilio account">
      <label>
        Account SID <input className="input" required value={accountSid} onChange={(e) => setAccountSid(e.target.value)} placeholder="AC…" autoComplete="off" />
      </label>
      <label>
        Auth Token <input className="input" required type="password" value={authToken} onChange={(e) => setAuthToken(e.target.value)} autoComplete="off" />
      </label>
      <label>
        Forward calls to <input className="input" value={forwardTo} onChange={(e) => setForwardTo(e.target.value)} placeholder="+15551234567 (optional)" />
      </label>
      {CARRIER_CHANNELS.map((channel) => (
        <label key={channel}>
          <input type="checkbox" checked={channels.includes(channel)} onChange={() => toggle(channel)} /> {channel === 'sms' ? 'SMS' : 'WhatsApp'}
        </label>
      ))}
      <button type="submit" className="button primary" disabled={connect.isPending || channels.length === 0}>
        Connect Twilio
      </button>
      <ErrorNote error={connect.error} inline />
    </form>
  );
}
