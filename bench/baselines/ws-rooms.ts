/**
 * Bare `ws` baseline: a Map of org → Set of sockets, each event JSON.stringify'd once
 * and sent to every socket of its room. With `--batched`, each socket's writes of one
 * tick are corked into one syscall (frames unchanged): the practical limit for Node.
 *
 *   tsx bench/baselines/ws-rooms.ts [--batched] [port]
 * Protocol: → {"t":"auth","token":"org:<id>"} ← {"t":"ready"}
 *           → {"t":"mut","id":n,"name":"…"} ← {"t":"ack","id":n}, and the room gets {"t":"event","data":<event>}
 */
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { isSenderToken, listening, makeEvent, orgOfToken } from './event.ts';

const batched = process.argv.includes('--batched');
const port = Number(process.argv.slice(2).find((arg) => /^\d+$/.test(arg)) ?? 0);
const rooms = new Map<string, Set<WebSocket>>();
const corked = new Set<Socket>();

function uncorkAll() {
  for (const socket of corked) socket.uncork();
  corked.clear();
}

function send(ws: WebSocket, frame: string) {
  if (batched) {
    const socket = (ws as unknown as { _socket: Socket })._socket;
    if (!corked.has(socket)) {
      if (corked.size === 0) setImmediate(uncorkAll);
      socket.cork();
      corked.add(socket);
    }
  }
  ws.send(frame);
}

const wss = new WebSocketServer({ port, host: '127.0.0.1' });
wss.on('connection', (ws) => {
  let org: string | null = null;
  ws.on('message', (raw) => {
    const message = JSON.parse(String(raw)) as { t: string; token?: string; id?: number; name?: string };
    if (message.t === 'auth') {
      org = orgOfToken(message.token);
      if (!org) return ws.close(4001, 'bad token');
      if (!isSenderToken(message.token)) {
        let room = rooms.get(org);
        if (!room) rooms.set(org, (room = new Set()));
        room.add(ws);
      }
      send(ws, '{"t":"ready"}');
    } else if (message.t === 'mut' && org) {
      send(ws, JSON.stringify({ t: 'ack', id: message.id }));
      const frame = JSON.stringify({ t: 'event', data: makeEvent(org, String(message.name)) });
      for (const member of rooms.get(org) ?? []) send(member, frame);
    }
  });
  ws.on('close', () => {
    if (org) rooms.get(org)?.delete(ws);
  });
});
wss.on('listening', () => listening((wss.address() as { port: number }).port));
