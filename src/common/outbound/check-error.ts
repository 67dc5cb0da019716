/** Failure codes a verification may report (API.md, "Verification"). */
export const CHECK_ERROR_CODES = [
  'AUTH_FAILED',
  'UNREACHABLE',
  'TIMEOUT',
  'TLS_ERROR',
  'BLOCKED_DESTINATION',
  'CONFIG_INVALID',
  'UPSTREAM_ERROR',
] as const;
export type CheckErrorCode = (typeof CHECK_ERROR_CODES)[number];

/**
 * A failure of an outbound check, with a code clients can act on. The message
 * must be safe to show: callers still scrub it of every known secret value
 * before it is stored, logged or returned.
 */
export class CheckError extends Error {
  constructor(
    readonly code: CheckErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'CheckError';
  }
}
