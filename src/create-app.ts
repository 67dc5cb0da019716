import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { allowEmptyJsonOnBodylessRoutes } from './common/http/json-body';
import { rejectDeepJson } from './common/http/json-depth';
import { sendProblem } from './common/http/problem-details.filter';
import { Problems } from './common/http/problem';
import { serializeReply } from './common/http/json-reply';
import { Logger as NestLogger } from '@nestjs/common';
import type { AppConfig } from './config/app-config';
import { createRootLogger, logRequest } from './ops/logger-options';
import { AppMetrics } from './ops/metrics';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
export const BODY_LIMIT_BYTES = 1024 * 1024;
const frameworkLogger = new NestLogger('Router');

/** Builds the app exactly as production runs it; main.ts and the tests both call this. */
export async function createApp(config: AppConfig & { databaseUrl: string }): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: false,
    // Closing is answered by the onRequest hook below, as a problem+json 503.
    return503OnClosing: false,
    // Errors Fastify's router raises itself (a malformed URL, an over-long path parameter) are problems too.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => sendProblem(request, reply, error, frameworkLogger),
    forceCloseConnections: 'idle',
    genReqId: (req: IncomingMessage) => {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `req_${randomUUID().replace(/-/g, '')}`;
      (req as IncomingMessage & { id?: string }).id = id;
      return id;
    },
  });
  // JSON in (API.md): Nest's extra form-urlencoded parser is not registered, and Fastify's built-in
  // text/plain parser is removed below, so any other media type is a 415 rather than a string body.
  // One pino instance for the application log and the request log (an onResponse hook below).
  const logger = createRootLogger(config);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.register(config, logger), adapter, {
    bufferLogs: true,
    abortOnError: false,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));

  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeContentTypeParser('text/plain');
  // Fastify sends a Buffer from the serializer as is (reply.js onSendEnd); its type only says string.
  fastify.setReplySerializer(serializeReply as (payload: unknown) => string);
  // Many clients label every request JSON: an empty body is fine where a route takes none.
  allowEmptyJsonOnBodylessRoutes(fastify);
  const metrics = app.get(AppMetrics);
  fastify.addHook('preValidation', rejectDeepJson);
  // Single-resource replies carry their etag as the ETag header too (API.md). A Fastify hook
  // rather than a global Nest interceptor: it costs nothing on routes whose body has no etag.
  // Hooks on every request take callbacks, not async functions: no promise per hook per request.
  fastify.addHook('preSerialization', (_request, reply, payload: unknown, done) => {
    if (payload && typeof payload === 'object' && typeof (payload as { etag?: unknown }).etag === 'string') {
      void reply.header('ETag', `"${(payload as { etag: string }).etag}"`);
    }
    done(null, payload);
  });
  // While closing, answers tell keep-alive clients to hang up, so in-flight requests finish
  // and the process exits at once instead of waiting out the keep-alive timeout.
  let closing = false;
  fastify.addHook('preClose', async () => {
    closing = true;
  });
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('Connection', 'close');
    done(null, payload);
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    if (!closing) return done();
    sendProblem(request, reply, Problems.unavailable('The service is shutting down; retry shortly.', 1), frameworkLogger);
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions?.url ?? 'unmatched';
    metrics.observe(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    logRequest(logger, request, reply);
    done();
  });
  // Errors raised before a route handler runs (body parsing, size, media type) reach the global
  // ProblemDetailsFilter through the error handler Nest installs at init; a handler set here would
  // only be replaced by it (with a FSTWRN004 warning), so none is set.

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Switchboard API')
      .setDescription(
        'Multi-tenant integrations backend. Credentials are write-only (read back as ***REDACTED***), encrypted with AES-256-GCM bound to their row, and verifiable without leaving the service. Errors are RFC 9457 problem+json.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi.json', yamlDocumentUrl: 'openapi.yaml' });
  return app;
}
