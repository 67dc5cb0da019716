import type { ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import { baseUrlParam, buildHttpCheck, detailString } from './http.connector';

export const gitlabConnector: ConnectorDefinition = {
  key: 'gitlab',
  displayName: 'GitLab',
  description: 'GitLab.com or a self-managed GitLab; the check reads the authenticated user.',
  category: 'scm',
  verifiable: true,
  configMetadata: {
    parametersMetadata: params(baseUrlParam('https://gitlab.com', 'Instance root (without /api/v4); override it for self-managed GitLab.')),
    authMetadata: [
      auth({
        id: 'pat',
        type: 'BEARER',
        displayName: 'Personal, group or project access token',
        description: 'Sent as Authorization: Bearer.',
        credentials: [{ name: 'token', type: 'String', displayName: 'Token' }],
      }),
    ],
  },
  destinationParameters: ['baseUrl'],
  check: buildHttpCheck({
    path: () => '/api/v4/user',
    method: () => 'GET',
    inspect: (response) => ({ details: { username: detailString(response.json()?.username) } }),
  }),
};
