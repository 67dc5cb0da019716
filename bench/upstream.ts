/*
 * The fake upstream that :verifyConfig calls during the benchmark: answers
 * every request at once with 200 and a tiny JSON body, on 127.0.0.1 only.
 * Run as its own process (so its latency does not depend on the load
 * generator's event loop); prints "LISTENING <port>" when ready.
 */
import { createServer, type Server } from 'node:http';

const BODY = Buffer.from('{"ok":true}');

export function startUpstream(port = 0): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': BODY.length });
      res.end(BODY);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

if (require.main === module) {
  void startUpstream(Number(process.env.PORT ?? 0)).then((server) => {
    const address = server.address();
    process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
    const stop = () => server.close(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
