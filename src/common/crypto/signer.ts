/** Keyed signatures for tokens the service issues (page tokens, idempotency fingerprints, OAuth2 state). */
export interface Signer {
  sign(purpose: string, data: string): string;
  verify(purpose: string, data: string, signature: string): boolean;
}
export const SIGNER = Symbol('SIGNER');
