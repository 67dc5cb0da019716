import { randomBytes } from 'node:crypto';
import { Problems } from './problem';

/** A fresh opaque etag; random rather than a counter, so a re-created id never matches an old etag. */
export function newEtag(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * Enforces If-Match against the current etag: absent header passes, `*` passes,
 * a quoted or bare value (optionally a list) must match; otherwise 412. Weak
 * validators never match (RFC 9110 §13.1.1: If-Match uses strong comparison).
 */
export function assertIfMatch(ifMatch: string | undefined, currentEtag: string): void {
  if (ifMatch === undefined || ifMatch.trim() === '') return;
  const candidates = ifMatch
    .split(',')
    .map((v) => v.trim())
    .filter((v) => !v.startsWith('W/'))
    .map((v) => v.replace(/^"(.*)"$/, '$1'));
  if (candidates.includes('*') || candidates.includes(currentEtag)) return;
  throw Problems.preconditionFailed();
}
