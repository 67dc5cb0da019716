import { OutboundPolicy } from '../../../src/common/outbound/outbound-policy';
import type { CheckContext, CheckOutcome, ConnectorDefinition } from '../../../src/connectors/connector.types';

export interface CheckContextOverrides {
  authMethod: string;
  parameters?: Record<string, unknown>;
  credentials?: Record<string, unknown>;
  timeoutMs?: number;
  knownHostKey?: string | null;
  signal?: AbortSignal;
}

/** Only 127.0.0.1 is allowed: every other loopback address (127.0.0.2, ::1, localhost's ::1) is blocked. */
export function loopbackOnlyPolicy(): OutboundPolicy {
  return new OutboundPolicy({ allowPrivate: false, allowedHosts: ['127.0.0.1'] });
}

/** A CheckContext as the verification service builds it: metadata defaults, then the given parameters. */
export function checkContext(connector: ConnectorDefinition, overrides: CheckContextOverrides): CheckContext {
  const auth = connector.configMetadata.authMetadata.find((entry) => entry.id === overrides.authMethod);
  if (!auth) throw new Error(`${connector.key} has no auth method ${overrides.authMethod}`);
  const defaults = Object.fromEntries(
    connector.configMetadata.parametersMetadata
      .filter((p) => p.defaultValue !== null && p.defaultValue !== undefined)
      .map((p) => [p.name, p.defaultValue]),
  );
  return {
    parameters: { ...defaults, ...overrides.parameters },
    auth,
    credentials: overrides.credentials ?? {},
    headers: {},
    timeoutMs: overrides.timeoutMs ?? 10_000,
    signal: overrides.signal ?? new AbortController().signal,
    outbound: loopbackOnlyPolicy(),
    knownHostKey: overrides.knownHostKey ?? null,
  };
}

/** Runs a check and measures it; the outcome must never contain any of `secrets`. */
export async function runCheck(
  connector: ConnectorDefinition,
  overrides: CheckContextOverrides,
): Promise<{ outcome: CheckOutcome; elapsedMs: number; json: string }> {
  const started = Date.now();
  const outcome = await connector.check(checkContext(connector, overrides));
  return { outcome, elapsedMs: Date.now() - started, json: JSON.stringify(outcome) };
}
