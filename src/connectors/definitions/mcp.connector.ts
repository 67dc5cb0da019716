import type { ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import { buildHttpCheck, detailString, parseJsonObject, type HttpCheckInspection, type HttpCheckResponse } from './http.connector';

export const MCP_PROTOCOL_VERSION = '2025-06-18';

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: MCP_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'switchboard', version: '1' },
  },
});

/**
 * A Streamable HTTP server answers a POST either with one JSON message or with an SSE
 * stream whose `data:` lines carry it; the reply to id 1 is what we want either way.
 */
function initializeReply(response: HttpCheckResponse): Record<string, unknown> | undefined {
  const type = (response.header('content-type') ?? '').toLowerCase();
  const text = response.body.toString('utf8');
  if (!type.includes('text/event-stream')) return parseJsonObject(text);
  const messages: Record<string, unknown>[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''))
      .join('\n');
    const message = data ? parseJsonObject(data) : undefined;
    if (message) messages.push(message);
  }
  return messages.find((m) => m.id === 1) ?? messages.find((m) => 'result' in m || 'error' in m);
}

function inspectInitialize(response: HttpCheckResponse): HttpCheckInspection {
  const reply = initializeReply(response);
  const error = reply?.error as Record<string, unknown> | undefined;
  if (error && typeof error === 'object') {
    const code = typeof error.code === 'number' ? ` ${error.code}` : '';
    return { error: { code: 'UPSTREAM_ERROR', message: `MCP server answered JSON-RPC error${code}` } };
  }
  const result = reply?.result as Record<string, unknown> | undefined;
  const serverInfo = result?.serverInfo as Record<string, unknown> | undefined;
  if (!serverInfo || typeof serverInfo !== 'object') {
    return { error: { code: 'UPSTREAM_ERROR', message: 'MCP server did not answer initialize' } };
  }
  return {
    details: {
      serverName: detailString(serverInfo.name),
      serverVersion: detailString(serverInfo.version),
      protocolVersion: detailString(result?.protocolVersion),
    },
  };
}

export const mcpConnector: ConnectorDefinition = {
  key: 'mcp',
  displayName: 'MCP server',
  description: 'A custom Model Context Protocol server over Streamable HTTP; the check runs the initialize handshake.',
  category: 'ai',
  verifiable: true,
  configMetadata: {
    parametersMetadata: params(
      {
        name: 'baseUrl',
        type: 'Url',
        displayName: 'MCP endpoint URL',
        description: 'The server\'s Streamable HTTP endpoint, e.g. https://mcp.example.com/mcp.',
        required: true,
      },
      { name: 'headerName', type: 'String', displayName: 'API key header', defaultValue: 'X-API-Key' },
    ),
    authMetadata: [
      auth({ type: 'BEARER', displayName: 'Bearer token', credentials: [{ name: 'token', type: 'String', displayName: 'Token' }] }),
      auth({
        type: 'API_KEY',
        displayName: 'API key',
        description: 'Sent in the header named by headerName.',
        credentials: [{ name: 'apiKey', type: 'String', displayName: 'API key' }],
      }),
      auth({ type: 'NONE', displayName: 'No authentication', sensitivity: 'UNSPECIFIED', credentials: [] }),
    ],
  },
  destinationParameters: ['baseUrl'],
  check: buildHttpCheck({
    path: () => '',
    method: () => 'POST',
    headers: { Accept: 'application/json, text/event-stream' },
    body: () => ({ contentType: 'application/json', content: INITIALIZE }),
    inspect: inspectInitialize,
  }),
};
