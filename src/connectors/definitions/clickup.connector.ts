import type { ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import { baseUrlParam, buildHttpCheck, detailString } from './http.connector';

export const clickupConnector: ConnectorDefinition = {
  key: 'clickup',
  displayName: 'ClickUp',
  description: 'ClickUp API v2; the check reads the user the token belongs to.',
  category: 'project-management',
  verifiable: true,
  configMetadata: {
    parametersMetadata: params(baseUrlParam('https://api.clickup.com')),
    authMetadata: [
      auth({
        id: 'api_token',
        type: 'API_KEY',
        displayName: 'Personal API token',
        description: 'Sent as the raw Authorization header, as ClickUp expects (no Bearer prefix).',
        credentials: [{ name: 'apiToken', type: 'String', displayName: 'API token' }],
      }),
    ],
  },
  destinationParameters: ['baseUrl'],
  check: buildHttpCheck({
    path: () => '/api/v2/user',
    method: () => 'GET',
    apiKey: { field: 'apiToken', header: 'Authorization' },
    inspect: (response) => {
      const user = response.json()?.user as Record<string, unknown> | undefined;
      return { details: { userId: detailString(user?.id) } };
    },
  }),
};
