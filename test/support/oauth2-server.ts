import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OAuth2TestServerOptions {
  clientId?: string;
  clientSecret?: string;
  /** Seconds; what the token endpoint says in expires_in. */
  accessTokenTtl?: number;
  /** Issue a new refresh token on every refresh (and invalidate the old one). */
  rotateRefreshTokens?: boolean;
  /** Delay of every token endpoint answer, to widen race windows. */
  tokenDelayMs?: number;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  scope: string;
  used: boolean;
}

interface TokenRecord {
  expiresAt: number;
}

interface RefreshRecord {
  active: boolean;
}

/** One answer the token endpoint gives instead of the normal one (for failure tests). */
export interface ForcedTokenReply {
  status: number;
  body: Record<string, unknown>;
}

/**
 * A small OAuth2 authorization server and resource server on 127.0.0.1, enough to prove the
 * flow: it checks the client (secret_basic or secret_post), the redirect URI and the PKCE S256
 * verifier, counts grants, and serves GET /api/me to bearer tokens it issued and that have
 * not expired.
 */
export class OAuth2TestServer {
  readonly clientId: string;
  readonly clientSecret: string;
  accessTokenTtl: number;
  rotateRefreshTokens: boolean;
  tokenDelayMs: number;
  readonly grants = { authorization_code: 0, refresh_token: 0 };
  /** Every token request's client authentication style, in order. */
  readonly clientAuthSeen: Array<'basic' | 'post' | 'none'> = [];
  /** Every /authorize query, in order. */
  readonly authorizeRequests: Record<string, string>[] = [];
  /** Replies forced on the next refresh_token grants (first in, first used). */
  readonly forcedRefreshReplies: ForcedTokenReply[] = [];

  private readonly codes = new Map<string, IssuedCode>();
  private readonly accessTokens = new Map<string, TokenRecord>();
  private readonly refreshTokens = new Map<string, RefreshRecord>();
  private readonly server: Server;
  private port = 0;

  private constructor(options: OAuth2TestServerOptions) {
    this.clientId = options.clientId ?? 'switchboard-client';
    this.clientSecret = options.clientSecret ?? `client-secret-${randomBytes(6).toString('hex')}`;
    this.accessTokenTtl = options.accessTokenTtl ?? 3600;
    this.rotateRefreshTokens = options.rotateRefreshTokens ?? true;
    this.tokenDelayMs = options.tokenDelayMs ?? 0;
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  static async start(options: OAuth2TestServerOptions = {}): Promise<OAuth2TestServer> {
    const server = new OAuth2TestServer(options);
    await new Promise<void>((resolve) => server.server.listen(0, '127.0.0.1', resolve));
    server.port = (server.server.address() as AddressInfo).port;
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What a user's browser does at the consent page: returns the redirect back to the service (callback URL with code and state). */
  async approve(authorizationUrl: string): Promise<URL> {
    const response = await fetch(authorizationUrl, { redirect: 'manual' });
    const location = response.headers.get('location');
    if (response.status !== 302 || !location) throw new Error(`authorize answered ${response.status}: ${await response.text()}`);
    return new URL(location);
  }

  /** What the consent page sends back when the user says no. */
  deny(authorizationUrl: string, error = 'access_denied'): URL {
    const request = new URL(authorizationUrl);
    const back = new URL(request.searchParams.get('redirect_uri') ?? '');
    back.searchParams.set('error', error);
    back.searchParams.set('error_description', 'The user denied the request');
    back.searchParams.set('state', request.searchParams.get('state') ?? '');
    return back;
  }

  /** Makes every refresh token issued so far unusable (a revoked grant). */
  revokeRefreshTokens(): void {
    for (const record of this.refreshTokens.values()) record.active = false;
  }

  /** Makes every issued access token expire now (so the resource server answers 401). */
  expireAccessTokens(): void {
    for (const record of this.accessTokens.values()) record.expiresAt = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    try {
      if (req.method === 'GET' && url.pathname === '/authorize') return this.authorize(url, res);
      if (req.method === 'POST' && url.pathname === '/token') {
        if (this.tokenDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.tokenDelayMs));
        return this.token(req, new URLSearchParams(body), res);
      }
      if (req.method === 'GET' && url.pathname === '/api/me') return this.me(req, res);
      send(res, 404, { error: 'not_found' });
    } catch {
      send(res, 500, { error: 'server_error' });
    }
  }

  private authorize(url: URL, res: ServerResponse): void {
    const q = Object.fromEntries(url.searchParams);
    this.authorizeRequests.push(q);
    if (q.response_type !== 'code' || q.client_id !== this.clientId || !q.redirect_uri || !q.state) return send(res, 400, { error: 'invalid_request' });
    if (q.code_challenge_method !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge ?? '')) return send(res, 400, { error: 'invalid_request', error_description: 'PKCE S256 required' });
    const code = randomBytes(16).toString('base64url');
    this.codes.set(code, { clientId: q.client_id, redirectUri: q.redirect_uri, challenge: q.code_challenge, scope: q.scope ?? '', used: false });
    const back = new URL(q.redirect_uri);
    back.searchParams.set('code', code);
    back.searchParams.set('state', q.state);
    res.writeHead(302, { location: back.toString() });
    res.end();
  }

  private token(req: IncomingMessage, form: URLSearchParams, res: ServerResponse): void {
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return send(res, 400, { error: 'invalid_request' });
    const client = this.authenticateClient(req, form);
    if (!client) return send(res, 401, { error: 'invalid_client' });
    const grantType = form.get('grant_type');
    if (grantType === 'authorization_code') {
      this.grants.authorization_code += 1;
      const code = this.codes.get(form.get('code') ?? '');
      if (!code || code.used || code.redirectUri !== form.get('redirect_uri')) return send(res, 400, { error: 'invalid_grant', error_description: 'unknown, used or mismatched code' });
      code.used = true;
      const verifier = form.get('code_verifier') ?? '';
      if (createHash('sha256').update(verifier, 'ascii').digest('base64url') !== code.challenge) return send(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
      return send(res, 200, this.issue(code.scope, true));
    }
    if (grantType === 'refresh_token') {
      this.grants.refresh_token += 1;
      const forced = this.forcedRefreshReplies.shift();
      if (forced) return send(res, forced.status, forced.body);
      const presented = form.get('refresh_token') ?? '';
      const record = this.refreshTokens.get(presented);
      if (!record) return send(res, 400, { error: 'invalid_grant', error_description: 'unknown refresh token' });
      if (!record.active) return send(res, 400, { error: 'invalid_grant', error_description: 'refresh token was already used' });
      if (this.rotateRefreshTokens) record.active = false;
      return send(res, 200, this.issue('read', this.rotateRefreshTokens));
    }
    send(res, 400, { error: 'unsupported_grant_type' });
  }

  private authenticateClient(req: IncomingMessage, form: URLSearchParams): boolean {
    const header = req.headers.authorization;
    if (header?.startsWith('Basic ')) {
      this.clientAuthSeen.push('basic');
      const [id, secret] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':').map((part) => decodeURIComponent(part.replace(/\+/g, ' ')));
      return id === this.clientId && secret === this.clientSecret;
    }
    if (form.has('client_secret')) {
      this.clientAuthSeen.push('post');
      return form.get('client_id') === this.clientId && form.get('client_secret') === this.clientSecret;
    }
    this.clientAuthSeen.push('none');
    return false;
  }

  private issue(scope: string, withRefreshToken: boolean): Record<string, unknown> {
    const accessToken = `at-${randomBytes(12).toString('hex')}`;
    this.accessTokens.set(accessToken, { expiresAt: Date.now() + this.accessTokenTtl * 1000 });
    const reply: Record<string, unknown> = { access_token: accessToken, token_type: 'Bearer', expires_in: this.accessTokenTtl, scope };
    if (withRefreshToken) {
      const refreshToken = `rt-${randomBytes(12).toString('hex')}`;
      this.refreshTokens.set(refreshToken, { active: true });
      reply.refresh_token = refreshToken;
    }
    return reply;
  }

  private me(req: IncomingMessage, res: ServerResponse): void {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    const record = this.accessTokens.get(token);
    if (!record || record.expiresAt <= Date.now()) return send(res, 401, { error: 'invalid_token' });
    send(res, 200, { login: 'alice' });
  }
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
