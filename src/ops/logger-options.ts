import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Params } from 'nestjs-pino';
import { pino, type Level, type Logger as Pino } from 'pino';
import type { AppConfig } from '../config/app-config';

/**
 * Structured JSON logs. Requests are logged by method, path (never the query:
 * the OAuth2 callback carries a code there), status and request id; headers and
 * bodies are never logged, and known secret-bearing keys are redacted anywhere.
 *
 * One pino instance serves both the application (Nest's Logger through nestjs-pino) and the
 * request log, which a Fastify onResponse hook writes (see requestLogLine): no Nest middleware,
 * no per-request child logger, no AsyncLocalStorage scope.
 */
export function createRootLogger(config: AppConfig): Pino {
  return pino({
    level: config.logLevel,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        '*.authorization',
        '*.credentials',
        '*.headers',
        '*.password',
        '*.token',
        '*.accessToken',
        '*.refreshToken',
        '*.clientSecret',
        '*.secret',
        '*.apiKey',
        '*.connectionString',
        '*.privateKey',
      ],
      censor: '***REDACTED***',
    },
    serializers: {
      req: (req: { id?: string; method?: string; url?: string }) => ({ id: req.id, method: req.method, path: (req.url ?? '').split('?')[0] }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
  });
}

/** nestjs-pino over the given logger; `forRoutes: []` keeps its request middleware off every route. */
export function loggerOptions(logger: Pino): Params {
  return { pinoHttp: { logger }, forRoutes: [] };
}

/**
 * Successful reads are the bulk of traffic and carry no change: logged at debug. Writes stay
 * at info (the audit log has them too), client errors at warn, server errors at error.
 */
export function requestLogLevel(method: string, statusCode: number): Level {
  if (statusCode >= 500) return 'error';
  if (statusCode >= 400) return 'warn';
  return method === 'GET' || method === 'HEAD' ? 'debug' : 'info';
}

/** The one line per request (an onResponse hook); /healthz and /metrics are not logged. */
export function logRequest(logger: Pino, request: FastifyRequest, reply: FastifyReply): void {
  const url = request.raw.url ?? '';
  if (url === '/healthz' || url === '/metrics') return;
  const level = requestLogLevel(request.method, reply.statusCode);
  if (!logger.isLevelEnabled(level)) return;
  const path = url.split('?')[0];
  logger[level](
    { reqId: request.id, req: { id: request.id, method: request.method, url: path }, res: { statusCode: reply.statusCode }, responseTime: Math.round(reply.elapsedTime) },
    `${request.method} ${path} ${reply.statusCode}`,
  );
}
