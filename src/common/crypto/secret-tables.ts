/**
 * Every table that stores encrypted secrets. Each has the columns tenant_id,
 * id and `secrets jsonb`, shaped as groups of key → blob:
 * `{ "credentials": { "token": "sb1.…" }, "headers": { … }, "parameters": { … } }`.
 * A blob is bound to { tenantId, resourceType, resourceId: row id, field: "<group>.<key>" }.
 *
 * Key rotation walks exactly these tables, so a feature that stores a secret
 * anywhere else must be added here or its secrets will not be re-encrypted.
 */
export interface SecretTable {
  table: string;
  resourceType: string;
}

export const SECRET_TABLES: readonly SecretTable[] = [
  { table: 'integrations', resourceType: 'integration' },
  { table: 'connections', resourceType: 'connection' },
  { table: 'webhook_endpoints', resourceType: 'webhook_endpoint' },
];

/** The binding field of the blob stored at secrets[group][key]. */
export function secretField(group: string, key: string): string {
  return `${group}.${key}`;
}
