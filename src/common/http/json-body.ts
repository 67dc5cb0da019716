import type { FastifyInstance, FastifyRequest } from 'fastify';

/** A `:verb` custom action (API.md, AIP-136): the last path segment ends in `:word`. */
const CUSTOM_ACTION = /:[A-Za-z][A-Za-z0-9]*$/;

/** Requests that take no body: a DELETE, or a POST to a `:verb` action. */
export function takesNoBody(request: Pick<FastifyRequest, 'method' | 'url'>): boolean {
  if (request.method === 'DELETE') return true;
  if (request.method !== 'POST') return false;
  const path = request.url.split('?')[0];
  return CUSTOM_ACTION.test(path);
}

/**
 * Replaces Fastify's application/json parser with the same parser (prototype and constructor
 * poisoning still refused) that lets an empty body through as "no body" on routes that take
 * none: many HTTP clients label every request `Content-Type: application/json`, and a
 * `DELETE` or `:verifyConfig` without a body must not be a 400. Everywhere else an empty
 * body labelled JSON stays a 400. Call once, before the app is ready.
 */
export function allowEmptyJsonOnBodylessRoutes(fastify: FastifyInstance): void {
  const parse = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if ((body === '' || (typeof body === 'string' && body.trim() === '')) && takesNoBody(request)) {
      done(null, undefined);
      return;
    }
    void parse(request, body as string, done);
  });
}
