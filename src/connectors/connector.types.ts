import type { OutboundPolicy } from '../common/outbound/outbound-policy';
import type { OutboundConnections } from '../common/outbound/connection-pool';
import type { CheckErrorCode } from '../common/outbound/check-error';

export const PARAMETER_TYPES = ['String', 'Integer', 'Float', 'Boolean', 'Options', 'Json', 'Url'] as const;
export type ParameterType = (typeof PARAMETER_TYPES)[number];

export const AUTH_TYPES = [
  'API_KEY',
  'BEARER',
  'BASIC',
  'OAUTH2_AUTHORIZATION_CODE',
  'OAUTH2_CLIENT_CREDENTIALS',
  'USER_PASSWORD',
  'KEY_FILE',
  'CONNECTION_STRING',
  'NONE',
] as const;
export type AuthType = (typeof AUTH_TYPES)[number];

export const SENSITIVITIES = ['UNSPECIFIED', 'LOW', 'MEDIUM', 'HIGH'] as const;
export type Sensitivity = (typeof SENSITIVITIES)[number];

export const SUPPORTED_LEVELS = ['APPLICATION', 'USER'] as const;
export type SupportedLevel = (typeof SUPPORTED_LEVELS)[number];

export interface NumberRange {
  min: number | null;
  max: number | null;
}

export interface ParameterOption {
  value: string;
  displayName: string;
}

/** One entry of `parametersMetadata` (the Fruxon shape of API.md). */
export interface ParameterMetadata {
  name: string;
  index: number;
  type: ParameterType;
  typeName: string | null;
  displayName: string;
  description: string | null;
  required: boolean;
  secret: boolean;
  defaultValue: unknown;
  integerRange: NumberRange | null;
  floatRange: NumberRange | null;
  options: ParameterOption[] | null;
  asset: Record<string, unknown> | null;
  jsonSchema: Record<string, unknown> | null;
  uiHint: string | null;
  rules: unknown[];
}

export interface AuthMap {
  useMap: boolean;
  keyTemplate: string | null;
  parametersMetadata: ParameterMetadata[];
}

/** One entry of `authMetadata`. Its `parametersMetadata` describes the credential fields. */
export interface AuthMetadata {
  id: string;
  displayName: string;
  description: string | null;
  type: AuthType;
  sensitivity: Sensitivity;
  authProviderName: string | null;
  configTestSupported: boolean;
  supportedLevels: SupportedLevel[];
  authMap: AuthMap | null;
  authSettings: { parameters: Record<string, unknown> } | null;
  parametersMetadata: ParameterMetadata[];
  availableScopes: string[];
}

export interface ConfigMetadata {
  parametersMetadata: ParameterMetadata[];
  authMetadata: AuthMetadata[];
}

export type ConnectorCategory = 'protocol' | 'scm' | 'project-management' | 'messaging' | 'storage' | 'email' | 'ai';

/** What a check reports; latency and timestamps are added by the caller. */
export interface CheckOutcome {
  status: 'healthy' | 'unhealthy';
  error: { code: CheckErrorCode; message: string } | null;
  /** Non-secret facts: httpStatus, serverVersion, login, scopes, hostKeyFingerprint, … */
  details: Record<string, unknown>;
}

/** Everything one check needs, already decrypted and merged by the caller. */
export interface CheckContext {
  /** Effective parameters: metadata defaults, then the integration's, then the connection's (secret ones decrypted). */
  parameters: Record<string, unknown>;
  /** The resolved auth method entry (its `type` says how to authenticate). */
  auth: AuthMetadata;
  /** Decrypted credentials for that auth method. */
  credentials: Record<string, unknown>;
  /** Decrypted extra headers sent on every HTTP call. */
  headers: Record<string, string>;
  /** Server URL override (a connection's first `servers` entry), if any. */
  serverUrl?: string;
  /** The whole check must finish within this many milliseconds. */
  timeoutMs: number;
  /** Aborted when the caller gives up. */
  signal: AbortSignal;
  /** Every outbound connection goes through this policy. */
  outbound: OutboundPolicy;
  /** Keep-alive HTTP connections a check may reuse (a check's requests are safe to send twice). */
  connections?: OutboundConnections;
  /** SFTP: the host key fingerprint recorded on a previous success, if any. */
  knownHostKey?: string | null;
}

export interface ConnectorDefinition {
  key: string;
  displayName: string;
  description: string;
  category: ConnectorCategory;
  verifiable: boolean;
  configMetadata: ConfigMetadata;
  /** Parameter names that say where credentials go; changing one requires re-sending credentials. */
  destinationParameters: string[];
  /**
   * Runs the real check. Never throws for an upstream failure: it reports it as an
   * unhealthy outcome (a CheckError thrown inside is turned into one by the caller too).
   */
  check(ctx: CheckContext): Promise<CheckOutcome>;
}
