import { createServer, type Server, type Socket } from 'node:net';

export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server, 0, '127.0.0.1');
  await closeServer(server);
  return port;
}

/** Counts every connection made to it; used to prove a blocked destination was never dialled. */
export interface Canary {
  host: string;
  port: number;
  connections(): number;
  close(): Promise<void>;
}

export async function startCanary(host: string): Promise<Canary> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.destroy();
  });
  const port = await listen(server, 0, host);
  return {
    host,
    port,
    connections: () => count,
    close: async () => {
      sockets.forEach((s) => s.destroy());
      await closeServer(server);
    },
  };
}

/** Accepts connections and never says a word; reports when the client goes away. */
export interface SilentServer {
  port: number;
  accepted(): number;
  /** Resolves once every accepted socket has been closed by the client. */
  allClosed(): Promise<void>;
  close(): Promise<void>;
}

export async function startSilentServer(): Promise<SilentServer> {
  let accepted = 0;
  const open = new Set<Socket>();
  const waiters: Array<() => void> = [];
  const settle = () => {
    if (open.size === 0) waiters.splice(0).forEach((w) => w());
  };
  const server = createServer((socket) => {
    accepted++;
    open.add(socket);
    socket.on('error', () => undefined);
    // Read and drop what the client sends: an unread socket never sees the client's FIN.
    socket.resume();
    socket.on('close', () => {
      open.delete(socket);
      settle();
    });
  });
  const port = await listen(server, 0, '127.0.0.1');
  return {
    port,
    accepted: () => accepted,
    allClosed: () =>
      new Promise((resolve) => {
        waiters.push(resolve);
        settle();
      }),
    close: async () => {
      open.forEach((s) => s.destroy());
      await closeServer(server);
    },
  };
}

/** Rejects after `ms`, so a wait on a server event cannot hang a test. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
