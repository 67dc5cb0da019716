import { HttpException } from '@nestjs/common';

export interface FieldError {
  field: string;
  message: string;
}

/** Drops repeated field errors, so a rule checked twice is reported once. */
export function dedupeFieldErrors(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.field}\u0000${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export interface ProblemInit {
  status: number;
  /** Short slug; becomes the problem `type` URI. */
  type: string;
  title: string;
  detail: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
}

export const PROBLEM_TYPE_BASE = 'https://switchboard.dev/problems/';

/** An error that already knows its RFC 9457 shape; the global filter renders it as is. */
export class ProblemException extends HttpException {
  constructor(readonly problem: ProblemInit) {
    super(problem.detail, problem.status);
  }
}

export const Problems = {
  badRequest: (detail: string, errors?: FieldError[]) =>
    new ProblemException({ status: 400, type: 'invalid-request', title: 'Invalid request', detail, errors }),
  validation: (errors: FieldError[]) =>
    new ProblemException({
      status: 400,
      type: 'validation-error',
      title: 'Invalid request',
      detail: `The request has ${errors.length} invalid field${errors.length === 1 ? '' : 's'}.`,
      errors,
    }),
  unprocessable: (detail: string, errors?: FieldError[]) =>
    new ProblemException({ status: 422, type: 'unprocessable', title: 'Unprocessable request', detail, errors }),
  /** RFC 6750 §3.1: a request that carried no token gets the challenge without an error code. */
  unauthorized: (detail: string, tokenPresented = true) =>
    new ProblemException({
      status: 401,
      type: 'unauthorized',
      title: 'Unauthorized',
      detail,
      headers: { 'WWW-Authenticate': tokenPresented ? 'Bearer realm="switchboard", error="invalid_token"' : 'Bearer realm="switchboard"' },
    }),
  forbidden: (detail: string) => new ProblemException({ status: 403, type: 'forbidden', title: 'Forbidden', detail }),
  notFound: (detail: string) => new ProblemException({ status: 404, type: 'not-found', title: 'Not found', detail }),
  conflict: (detail: string, type = 'conflict') => new ProblemException({ status: 409, type, title: 'Conflict', detail }),
  preconditionFailed: (detail = 'The resource has changed since it was read (If-Match does not match its ETag).') =>
    new ProblemException({ status: 412, type: 'precondition-failed', title: 'Precondition failed', detail }),
  tooManyRequests: (detail: string, retryAfterSeconds: number) =>
    new ProblemException({
      status: 429,
      type: 'rate-limited',
      title: 'Too many requests',
      detail,
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    }),
  unavailable: (detail: string, retryAfterSeconds = 5) =>
    new ProblemException({
      status: 503,
      type: 'dependency-unavailable',
      title: 'Service unavailable',
      detail,
      headers: { 'Retry-After': String(retryAfterSeconds) },
    }),
};
