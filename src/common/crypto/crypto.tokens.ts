import type { CryptoService } from './crypto.service';

/** The tenant-keyed envelope cipher; only services that make outbound calls decrypt with it. */
export const CRYPTO = Symbol('CRYPTO');
export type TenantCrypto = CryptoService;
