import { createHash, createHmac } from 'node:crypto';

/** AWS credentials as stored on an `aws-ses` integration. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SigV4Request {
  method: string;
  /** The full URL the request goes to; its host (with a non-default port) is signed. */
  url: string;
  /** Headers that will be sent; all of them are signed. */
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface SigV4Scope {
  region: string;
  service: string;
  /** The signing time; defaults to now. */
  now?: Date;
}

export interface SigV4Signature {
  /** Headers to add to the request: `Authorization`, `X-Amz-Date` and, with a session token, `X-Amz-Security-Token`. */
  headers: Record<string, string>;
  authorization: string;
  signature: string;
  signedHeaders: string;
  credentialScope: string;
  amzDate: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

/**
 * Signs one request with AWS Signature Version 4 (header form) for a non-S3
 * service: path segments are encoded twice, the query is sorted, every header
 * given is signed together with `host` and `x-amz-date`.
 */
export function signSigV4(request: SigV4Request, credentials: AwsCredentials, scope: SigV4Scope): SigV4Signature {
  const url = new URL(request.url);
  const amzDate = toAmzDate(scope.now ?? new Date());
  const dateStamp = amzDate.slice(0, 8);
  const credentialScope = `${dateStamp}/${scope.region}/${scope.service}/aws4_request`;

  const added: Record<string, string> = { 'X-Amz-Date': amzDate };
  if (credentials.sessionToken) added['X-Amz-Security-Token'] = credentials.sessionToken;

  const toSign = new Map<string, string>();
  for (const [name, value] of Object.entries({ ...request.headers, ...added })) {
    toSign.set(name.toLowerCase(), value.trim().replace(/\s+/g, ' '));
  }
  toSign.set('host', url.host);
  const names = [...toSign.keys()].sort();
  const signedHeaders = names.join(';');
  const canonicalHeaders = names.map((name) => `${name}:${toSign.get(name)}\n`).join('');

  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(url.pathname),
    canonicalQuery(url.searchParams),
    canonicalHeaders,
    signedHeaders,
    sha256Hex(request.body ?? ''),
  ].join('\n');
  const stringToSign = [ALGORITHM, amzDate, credentialScope, sha256Hex(canonicalRequest)].join('\n');

  const signingKey = [dateStamp, scope.region, scope.service, 'aws4_request'].reduce<Buffer>(
    (key, part) => hmac(key, part),
    Buffer.from(`AWS4${credentials.secretAccessKey}`, 'utf8'),
  );
  const signature = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
  const authorization =
    `${ALGORITHM} Credential=${credentials.accessKeyId}/${credentialScope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;

  return {
    headers: { ...added, Authorization: authorization },
    authorization,
    signature,
    signedHeaders,
    credentialScope,
    amzDate,
  };
}

function toAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** RFC 3986 unreserved characters stay, everything else is percent-encoded (upper-case hex). */
function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Non-S3 services sign the already-encoded path encoded once more. */
function canonicalPath(pathname: string): string {
  if (pathname === '' || pathname === '/') return '/';
  return pathname
    .split('/')
    .map((segment) => encodeRfc3986(segment))
    .join('/');
}

function canonicalQuery(search: URLSearchParams): string {
  return [...search.entries()]
    .map(([key, value]) => [encodeRfc3986(key), encodeRfc3986(value)] as const)
    .sort(([ak, av], [bk, bv]) => (ak === bk ? compare(av, bv) : compare(ak, bk)))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
