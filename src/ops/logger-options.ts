import type { Params } from 'nestjs-pino';
import type { AppConfig } from '../config/app-config';

/**
 * Structured JSON logs. Requests are logged by method, path (never the query:
 * the OAuth2 callback carries a code there), status and request id; headers and
 * bodies are never logged, and known secret-bearing keys are redacted anywhere.
 */
export function loggerOptions(config: AppConfig): Params {
  return {
    pinoHttp: {
      level: config.logLevel,
      genReqId: (req) => (req as { id?: string }).id ?? 'unknown',
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
      customSuccessMessage: (req, res) => `${req.method} ${(req.url ?? '').split('?')[0]} ${res.statusCode}`,
      customErrorMessage: (req, res) => `${req.method} ${(req.url ?? '').split('?')[0]} ${res.statusCode}`,
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
      quietReqLogger: true,
      // Successful reads are the bulk of traffic and carry no change: logged at debug. Writes stay
      // at info (the audit log has them too), client errors at warn, server errors at error.
      customLogLevel: (req, res, err) => {
        if (err || res.statusCode >= 500) return 'error';
        if (res.statusCode >= 400) return 'warn';
        return req.method === 'GET' || req.method === 'HEAD' ? 'debug' : 'info';
      },
    },
  };
}
