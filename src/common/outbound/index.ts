export { CHECK_ERROR_CODES, CheckError } from './check-error';
export type { CheckErrorCode } from './check-error';
export { OutboundPolicy } from './outbound-policy';
export type { Lookup, OutboundPolicyOptions, ResolvedAddress } from './outbound-policy';
export { outboundRequest } from './http-client';
export type { OutboundRequest, OutboundResponse } from './http-client';
export { createScrubber, REDACTED, scrubDeep, scrubText, type Scrubber } from './scrub';
export { classifyAddress, parseHost } from './address';
export type { BlockReason, ParsedHost } from './address';
