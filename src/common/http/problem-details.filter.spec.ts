import { BadRequestException, ForbiddenException, HttpException, InternalServerErrorException, NotFoundException, type Logger } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { isDatabaseUnavailable, sendProblem, toProblem } from './problem-details.filter';
import { Problems, PROBLEM_TYPE_BASE } from './problem';

function fakeReply() {
  const state: { status?: number; headers: Record<string, string>; type?: string; body?: Record<string, unknown> } = { headers: {} };
  const reply = {
    sent: false,
    status(code: number) {
      state.status = code;
      return reply;
    },
    headers(h: Record<string, string>) {
      Object.assign(state.headers, h);
      return reply;
    },
    type(t: string) {
      state.type = t;
      return reply;
    },
    send(body: Record<string, unknown>) {
      state.body = body;
      return reply;
    },
  };
  return { reply: reply as unknown as FastifyReply, state };
}

const fakeLogger = () => ({ error: jest.fn(), warn: jest.fn() });
const request = { id: 'req_test', url: '/v1/tenants/acme?pageToken=abc' } as unknown as FastifyRequest;

function render(exception: unknown) {
  const { reply, state } = fakeReply();
  const logger = fakeLogger();
  sendProblem(request, reply, exception, logger as unknown as Logger);
  return { ...state, logger };
}

const pgError = (code: string, message = 'boom') => Object.assign(new Error(message), { code });

describe('toProblem', () => {
  it('renders a ProblemException as it is', () => {
    const problem = toProblem(Problems.validation([{ field: 'id', message: 'is invalid' }]));
    expect(problem).toMatchObject({ status: 400, type: 'validation-error', errors: [{ field: 'id', message: 'is invalid' }] });
  });

  it.each([
    [new BadRequestException('pageSize must be a number'), 400, 'invalid-request'],
    [new ForbiddenException(), 403, 'forbidden'],
    [new NotFoundException('Cannot GET /v1/secret/path'), 404, 'not-found'],
    [new HttpException('Request body is too large', 413), 413, 'payload-too-large'],
  ])('maps an HttpException to its status (%#)', (exception, status, type) => {
    expect(toProblem(exception)).toMatchObject({ status, type });
  });

  it('does not echo the route of an unknown-route 404', () => {
    expect(toProblem(new NotFoundException('Cannot GET /v1/secret/path')).detail).toBe('No such route or resource.');
  });

  it('does not echo the message of a 5xx HttpException', () => {
    const problem = toProblem(new InternalServerErrorException('pool exhausted at db-host-7:5432 with password hunter2'));
    expect(problem.status).toBe(500);
    expect(problem.detail).not.toMatch(/hunter2|db-host/);
  });

  it('maps a throttler refusal to 429 with Retry-After', () => {
    expect(toProblem(new ThrottlerException())).toMatchObject({ status: 429, headers: { 'Retry-After': expect.stringMatching(/^\d+$/) } });
  });

  it.each([
    ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'payload-too-large'],
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'unsupported-media-type'],
    ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 'invalid-json'],
    ['FST_ERR_CTP_INVALID_JSON_BODY', 400, 'invalid-json'],
    ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400, 'invalid-request'],
  ])('maps the Fastify error %s to %i', (code, status, type) => {
    const error = Object.assign(new Error('raw fastify message'), { code, statusCode: status });
    const problem = toProblem(error);
    expect(problem).toMatchObject({ status, type });
    expect(problem.detail).not.toContain('raw fastify message');
  });

  it('does not trust a Fastify-looking error that claims a 5xx', () => {
    const error = Object.assign(new Error('internal'), { code: 'FST_ERR_SOMETHING', statusCode: 500 });
    expect(toProblem(error)).toMatchObject({ status: 500, type: 'internal' });
  });

  it.each(['ECONNREFUSED', '57P01', '57P03', '08006', '53300'])('maps a database-down error (%s) to 503 with Retry-After', (code) => {
    expect(toProblem(pgError(code))).toMatchObject({ status: 503, type: 'dependency-unavailable', headers: { 'Retry-After': expect.stringMatching(/^\d+$/) } });
  });

  it('maps a database that refuses new connections (55000 "not currently accepting connections") to 503', () => {
    expect(toProblem(pgError('55000', 'database "x" is not currently accepting connections')).status).toBe(503);
  });

  it('maps a connection error wrapped in a QueryFailedError to 503', () => {
    const wrapped = new QueryFailedError('SELECT 1', [], pgError('57P01', 'terminating connection due to administrator command'));
    expect(toProblem(wrapped).status).toBe(503);
  });

  it.each(['22021', '22P05'])('maps a NUL character PostgreSQL cannot store (%s) to 400', (code) => {
    const wrapped = new QueryFailedError('INSERT INTO tenants ...', [], pgError(code, 'invalid byte sequence'));
    expect(toProblem(wrapped)).toMatchObject({ status: 400 });
  });

  it.each(['22021', '22P05'])('maps the same NUL refusal (%s) from a statement sent on the pool directly (pg DatabaseError) to 400', (code) => {
    const error = new DatabaseError('invalid byte sequence for encoding "UTF8": 0x00', 0, 'error');
    error.code = code;
    expect(toProblem(error)).toMatchObject({ status: 400, type: 'invalid-request' });
  });

  it('maps an unknown error to a generic 500 that keeps the cause for the log only', () => {
    const error = new Error('relation "tenants" does not exist at SELECT * FROM tenants');
    const problem = toProblem(error);
    expect(problem).toMatchObject({ status: 500, type: 'internal' });
    expect(problem.detail).not.toContain('relation');
    expect(problem.cause).toBe(error);
  });

  it('is not fooled into 503 by an ordinary query error', () => {
    expect(toProblem(new QueryFailedError('SELECT', [], pgError('42P01', 'relation does not exist'))).status).toBe(500);
    expect(toProblem(pgError('55000', 'lock not available for something else')).status).toBe(500);
  });

  it('maps thrown non-errors to 500', () => {
    expect(toProblem('a string').status).toBe(500);
    expect(toProblem(undefined).status).toBe(500);
  });
});

describe('isDatabaseUnavailable', () => {
  it('recognises pg pool messages without codes', () => {
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
  });

  it('is false for non-objects and unrelated errors', () => {
    expect(isDatabaseUnavailable(null)).toBe(false);
    expect(isDatabaseUnavailable('ECONNREFUSED')).toBe(false);
    expect(isDatabaseUnavailable(pgError('23505', 'duplicate key'))).toBe(false);
  });
});

describe('sendProblem', () => {
  it('sends every RFC 9457 field plus requestId as application/problem+json, instance without the query', () => {
    const out = render(Problems.notFound("Tenant 'acme' does not exist."));
    expect(out.status).toBe(404);
    expect(out.type).toBe('application/problem+json');
    expect(out.body).toEqual({
      type: `${PROBLEM_TYPE_BASE}not-found`,
      title: 'Not found',
      status: 404,
      detail: "Tenant 'acme' does not exist.",
      instance: '/v1/tenants/acme',
      requestId: 'req_test',
    });
  });

  it('includes errors[] only for problems that have them', () => {
    expect(render(Problems.validation([{ field: 'id', message: 'x' }])).body?.errors).toEqual([{ field: 'id', message: 'x' }]);
    expect(render(Problems.forbidden('no')).body).not.toHaveProperty('errors');
  });

  it('adds a Bearer challenge to every 401', () => {
    expect(render(new HttpException('Unauthorized', 401)).headers['WWW-Authenticate']).toMatch(/^Bearer /);
    expect(render(Problems.unauthorized('bad')).headers['WWW-Authenticate']).toContain('error="invalid_token"');
  });

  it('sends Retry-After on 503 and logs a warning without the cause', () => {
    const out = render(pgError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.5:5432'));
    expect(out.status).toBe(503);
    expect(out.headers['Retry-After']).toMatch(/^\d+$/);
    expect(out.logger.warn).toHaveBeenCalled();
    expect(out.logger.error).not.toHaveBeenCalled();
    expect(JSON.stringify(out.body)).not.toContain('10.0.0.5');
  });

  it('logs an unknown error with its cause and request id, and sends only a generic detail', () => {
    const error = new Error('secret-bearing internal message');
    const out = render(error);
    expect(out.status).toBe(500);
    expect(JSON.stringify(out.body)).not.toContain('secret-bearing');
    expect(JSON.stringify(out.body)).not.toMatch(/\bat |\.ts:/);
    expect(out.logger.error).toHaveBeenCalledWith(expect.objectContaining({ err: error, requestId: 'req_test' }), expect.any(String));
  });

  it('does nothing when the reply was already sent', () => {
    const { reply, state } = fakeReply();
    (reply as unknown as { sent: boolean }).sent = true;
    sendProblem(request, reply, Problems.forbidden('x'), fakeLogger() as unknown as Logger);
    expect(state.body).toBeUndefined();
  });
});
