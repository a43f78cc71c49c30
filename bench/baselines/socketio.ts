/**
 * Socket.IO 4 baseline: `auth.token` names the org, the socket joins its room, a
 * `mut` event is acknowledged and broadcast to the room as `event`.
 *
 *   tsx bench/baselines/socketio.ts [port]
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { isSenderToken, listening, makeEvent, orgOfToken } from './event.ts';

const port = Number(process.argv[2] ?? 0);
const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });
io.on('connection', (socket) => {
  const org = orgOfToken(socket.handshake.auth.token);
  if (!org) return void socket.disconnect(true);
  if (!isSenderToken(socket.handshake.auth.token)) void socket.join(org);
  socket.on('mut', (body: { name?: string }, ack?: (reply: unknown) => void) => {
    ack?.({ ok: true });
    io.to(org).emit('event', makeEvent(org, String(body?.name)));
  });
});
http.listen(port, '127.0.0.1', () => listening((http.address() as { port: number }).port));
