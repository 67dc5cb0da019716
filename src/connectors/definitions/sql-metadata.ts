import type { ConfigMetadata } from '../connector.types';
import { auth, params, type ParamInput } from '../metadata-builders';

/** The TLS modes both SQL connectors accept (API.md: disable / require / verify-full). */
export const SSL_MODES = ['disable', 'require', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

const SSL_MODE_NAMES: Record<SslMode, string> = { disable: 'Disable', require: 'Require', 'verify-full': 'Verify full' };

/** What differs between the SQL connectors' metadata; the rest (API.md's shared table row) is here once. */
export interface SqlMetadataOptions {
  defaultPort: number;
  database: ParamInput;
  connectionStringDescription: string;
}

export function sqlConfigMetadata(options: SqlMetadataOptions): ConfigMetadata {
  return {
    parametersMetadata: params(
      { name: 'host', type: 'String', required: true, displayName: 'Host', description: 'Server host name or address.' },
      { name: 'port', type: 'Integer', defaultValue: options.defaultPort, integerRange: { min: 1, max: 65535 }, displayName: 'Port' },
      options.database,
      {
        name: 'sslMode',
        type: 'Options',
        defaultValue: 'disable',
        displayName: 'TLS mode',
        description: 'disable: plain TCP; require: TLS without certificate checks; verify-full: TLS with a trusted certificate for the host.',
        options: SSL_MODES.map((value) => ({ value, displayName: SSL_MODE_NAMES[value] })),
      },
    ),
    authMetadata: [
      auth({
        type: 'USER_PASSWORD',
        displayName: 'User name and password',
        credentials: [
          { name: 'username', type: 'String', secret: false, displayName: 'User name' },
          { name: 'password', type: 'String', displayName: 'Password' },
        ],
      }),
      auth({
        type: 'CONNECTION_STRING',
        displayName: 'Connection string',
        description: options.connectionStringDescription,
        credentials: [{ name: 'connectionString', type: 'String', displayName: 'Connection string' }],
      }),
    ],
  };
}
