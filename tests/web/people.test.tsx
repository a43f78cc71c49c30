// @vitest-environment jsdom
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { FieldInput } from '../../src/client/web/components/FieldInput.tsx';
import { fieldOf } from '../../src/client/web/modules/fields.ts';
import { usePersonLabel, useUserName } from '../../src/client/web/people/people.ts';
import { SessionContext } from '../../src/client/web/session/SessionContext.tsx';
import { TandemProvider } from '../../src/client/web/TandemProvider.tsx';
import { startTestServer, type TestServer } from '../helpers/server.ts';

afterEach(() => cleanup());

async function mountAsAlice(server: TestServer, ui: React.ReactNode) {
  const token = await server.tokenFor('alice@acme.test');
  const session = { token, expiresAt: new Date(Date.now() + 3_600_000).toISOString(), user: server.users['alice@acme.test'], signOut: () => undefined };
  return render(ui, {
    wrapper: ({ children }) => (
      <SessionContext.Provider value={session}>
        <TandemProvider
          url={server.server.url}
          getToken={() => token}
          onUnauthorized={() => undefined}
          WebSocket={WebSocket as unknown as typeof globalThis.WebSocket}
          retryDelayMs={() => 50}
        >
          {children}
        </TandemProvider>
      </SessionContext.Provider>
    ),
  });
}

function Names({ ids }: { ids: (string | undefined)[] }) {
  return (
    <ul>
      {ids.map((id, index) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: the same id may be listed twice here, on purpose
        <Name key={index} id={id} />
      ))}
    </ul>
  );
}
function Name({ id }: { id: string | undefined }) {
  return <li data-testid="name">{useUserName(id)}</li>;
}
function Label({ id }: { id: string }) {
  return <li data-testid="label">{usePersonLabel(id)}</li>;
}

describe("the org's people by name", () => {
  it('an assignee field chooses among the people of your org, you marked', async () => {
    await using server = await startTestServer();
    const { alice, bob } = { alice: server.users['alice@acme.test'], bob: server.users['bob@acme.test'] };
    const onChange = vi.fn();
    const { rerender } = await mountAsAlice(server, <FieldInput id="assignee" spec={fieldOf('jobs', 'assigneeId')} value={bob.id} onChange={onChange} />);
    const options = () => Array.from(screen.getByRole('combobox').querySelectorAll('option')).map((option) => [option.value, option.textContent]);
    await vi.waitFor(() =>
      expect(options()).toEqual([
        ['', 'Unassigned'],
        [alice.id, `${alice.name} (you)`],
        [bob.id, bob.name],
      ]),
    );
    expect((screen.getByRole('combobox') as HTMLSelectElement).value).toBe(bob.id);
    // Carol is of another org: not offered.
    expect(options().some(([, text]) => text === server.users['carol@globex.test'].name)).toBe(false);

    // An id the directory does not know keeps its place instead of vanishing.
    rerender(<FieldInput id="assignee" spec={fieldOf('jobs', 'assigneeId')} value="someone-gone" onChange={onChange} />);
    expect(options()[1]).toEqual(['someone-gone', 'Unknown person']);
  });

  it('names people in running text and as values', async () => {
    await using server = await startTestServer();
    const { alice, bob } = { alice: server.users['alice@acme.test'], bob: server.users['bob@acme.test'] };
    await mountAsAlice(
      server,
      <>
        <Names ids={[bob.id, alice.id, undefined, 'not-a-user']} />
        <Label id={alice.id} />
        <Label id={bob.id} />
      </>,
    );
    // Bob is not online: the name comes from the directory, not from presence.
    await vi.waitFor(() => expect(screen.getAllByTestId('name').map((node) => node.textContent)).toEqual([bob.name, 'you', 'someone', 'a colleague']));
    expect(screen.getAllByTestId('label').map((node) => node.textContent)).toEqual([`${alice.name} (you)`, bob.name]);
  });
});
