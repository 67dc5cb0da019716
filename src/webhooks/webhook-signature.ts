import { createHmac, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;

/** A new signing secret: "whsec_" + base64 of 32 random bytes (Standard Webhooks). */
export function newSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/**
 * One Standard Webhooks signature: "v1," + base64 HMAC-SHA256 of
 * "{id}.{timestamp}.{body}", keyed with the base64-decoded bytes after "whsec_".
 */
export function signWebhook(secret: string, messageId: string, timestamp: number, body: string): string {
  if (!secret.startsWith(SECRET_PREFIX)) throw new TypeError('not a webhook signing secret');
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${messageId}.${timestamp}.${body}`, 'utf8').digest('base64')}`;
}

/** The webhook-signature header: one signature per active secret, space-separated. */
export function signatureHeader(secrets: string[], messageId: string, timestamp: number, body: string): string {
  return secrets.map((secret) => signWebhook(secret, messageId, timestamp, body)).join(' ');
}
