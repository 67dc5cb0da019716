import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { PROBLEM_TYPE_BASE, ProblemException, type ProblemInit } from './problem';

const STATUS_TITLES: Record<number, string> = {
  400: 'Invalid request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  406: 'Not acceptable',
  409: 'Conflict',
  412: 'Precondition failed',
  413: 'Payload too large',
  415: 'Unsupported media type',
  422: 'Unprocessable request',
  429: 'Too many requests',
  500: 'Internal server error',
  503: 'Service unavailable',
};

const DATABASE_DOWN_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  '57P01',
  '57P02',
  '57P03',
  '57P04',
  '53300',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

/** True when an error means "the database cannot be reached", not "the query was wrong". */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as { code?: unknown; message?: unknown; driverError?: unknown };
  if (typeof e.code === 'string' && DATABASE_DOWN_CODES.has(e.code)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  if (/Connection terminated|Query read timeout|timeout exceeded when trying to connect|Connection is not established|the database system is (starting up|shutting down)|terminating connection|Client has encountered a connection error|is not currently accepting connections/i.test(message)) {
    return true;
  }
  return e.driverError !== undefined && e.driverError !== error && isDatabaseUnavailable(e.driverError);
}

/** Maps any thrown value to an RFC 9457 problem; known client mistakes keep their 4xx. */
export function toProblem(exception: unknown): ProblemInit & { cause?: unknown } {
  if (exception instanceof ProblemException) return exception.problem;
  if (exception instanceof ThrottlerException) {
    return { status: 429, type: 'rate-limited', title: 'Too many requests', detail: 'Rate limit exceeded for this token.', headers: { 'Retry-After': '60' } };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    // A 5xx HttpException may wrap an internal message (a Fastify error re-thrown by Nest): never echo it.
    const detail = status === 404 ? 'No such route or resource.' : status >= 500 ? `${STATUS_TITLES[status] ?? 'Error'}.` : shortDetail(exception.message, status);
    return { status, type: slug(status), title: STATUS_TITLES[status] ?? 'Error', detail };
  }
  const fastifyError = exception as { statusCode?: number; code?: string; message?: string };
  if (typeof fastifyError?.code === 'string' && fastifyError.code.startsWith('FST_') && typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    return fromFastifyError(fastifyError.statusCode, fastifyError.code);
  }
  if (isDatabaseUnavailable(exception)) {
    return { status: 503, type: 'dependency-unavailable', title: 'Service unavailable', detail: 'The database is unavailable; retry shortly.', headers: { 'Retry-After': '5' } };
  }
  // 22021 (NUL in a text column) and 22P05 (NUL in jsonb): input PostgreSQL cannot store, not a server fault.
  if (UNSTORABLE_INPUT.has(sqlState(exception) ?? '')) {
    return { status: 400, type: 'invalid-request', title: 'Invalid request', detail: 'The request contains characters that cannot be stored (such as NUL).' };
  }
  return { status: 500, type: 'internal', title: 'Internal server error', detail: 'An unexpected error occurred; it has been logged with this request id.', cause: exception };
}

const UNSTORABLE_INPUT = new Set(['22021', '22P05']);

/**
 * The SQLSTATE of a database error: TypeORM wraps pg's error in a QueryFailedError,
 * while statements sent on the pool directly (PreparedSql) throw pg's DatabaseError.
 */
function sqlState(exception: unknown): string | undefined {
  if (exception instanceof QueryFailedError) return (exception as { driverError?: { code?: string } }).driverError?.code;
  if (exception instanceof DatabaseError) return exception.code;
  return undefined;
}

function fromFastifyError(status: number, code: string): ProblemInit {
  switch (code) {
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 400, type: 'invalid-request', title: 'Invalid request', detail: 'A path parameter is too long.' };
    case 'FST_ERR_BAD_URL':
      return { status: 400, type: 'invalid-request', title: 'Invalid request', detail: 'The URL is malformed.' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, type: 'payload-too-large', title: 'Payload too large', detail: 'The request body exceeds the 1 MiB limit.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, type: 'unsupported-media-type', title: 'Unsupported media type', detail: 'Send the body as application/json.' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, type: 'invalid-json', title: 'Invalid request', detail: 'The body is empty but Content-Type says JSON.' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, type: 'invalid-json', title: 'Invalid request', detail: 'The body is not valid JSON.' };
    default:
      return { status, type: slug(status), title: STATUS_TITLES[status] ?? 'Invalid request', detail: status === 400 && /JSON|Unexpected|prototype/i.test(code) ? 'The body is not valid JSON.' : (STATUS_TITLES[status] ?? 'Invalid request') + '.' };
  }
}

function slug(status: number): string {
  return (STATUS_TITLES[status] ?? 'error').toLowerCase().replace(/[^a-z]+/g, '-');
}

function shortDetail(message: string, status: number): string {
  if (!message || message.length > 300) return `${STATUS_TITLES[status] ?? 'Error'}.`;
  return message.endsWith('.') ? message : `${message}.`;
}

@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemDetails');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendProblem(http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>(), exception, this.logger);
  }
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, exception: unknown, logger: Logger): void {
  const problem = toProblem(exception);
  if (problem.status >= 500 && problem.status !== 503) {
    logger.error({ err: problem.cause ?? exception, requestId: request.id }, 'unhandled error');
  } else if (problem.status === 503) {
    logger.warn({ requestId: request.id }, 'database unavailable');
  }
  const headers: Record<string, string> = { ...(problem.headers ?? {}) };
  // The throttler already set an exact Retry-After; keep it rather than the generic one.
  if (problem.status === 429 && reply.getHeader('retry-after') !== undefined) delete headers['Retry-After'];
  if (problem.status === 401 && !headers['WWW-Authenticate']) headers['WWW-Authenticate'] = 'Bearer realm="switchboard"';
  const body: Record<string, unknown> = {
    type: `${PROBLEM_TYPE_BASE}${problem.type}`,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    instance: (request.url ?? '').split('?')[0],
    requestId: String(request.id),
  };
  if (problem.errors) body.errors = problem.errors;
  if (reply.sent) return;
  void reply.status(problem.status).headers(headers).type('application/problem+json').send(body);
}
