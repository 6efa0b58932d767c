// A WebSocket-to-TCP relay for @neondatabase/serverless (what Neon's proxy does): each
// WebSocket carries one Postgres connection. The target is fixed (never taken from the request).
import net from 'node:net';
import { WebSocketServer } from 'ws';

export function startRelay({ host = '127.0.0.1', port = 5432 } = {}) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (socket) => {
    const tcp = net.connect(port, host);
    socket.on('message', (data) => tcp.write(data));
    tcp.on('data', (data) => socket.send(data));
    socket.on('close', () => tcp.destroy());
    tcp.on('close', () => socket.close());
    tcp.on('error', () => socket.close());
    socket.on('error', () => tcp.destroy());
  });
  return new Promise((resolve) => server.on('listening', () => resolve({ port: server.address().port, close: () => server.close() })));
}
