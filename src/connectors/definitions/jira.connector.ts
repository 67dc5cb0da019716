import type { ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import { baseUrlParam, buildHttpCheck, detailString } from './http.connector';

export const jiraConnector: ConnectorDefinition = {
  key: 'jira',
  displayName: 'Jira Cloud',
  description: 'Jira Cloud REST API v3; the check reads the account the API token belongs to.',
  category: 'project-management',
  verifiable: true,
  configMetadata: {
    // Every Jira site has its own host, so there is no default to fall back on.
    parametersMetadata: params(baseUrlParam(null, 'Your site, e.g. https://your-domain.atlassian.net.')),
    authMetadata: [
      auth({
        id: 'api_token',
        type: 'BASIC',
        displayName: 'Email and API token',
        description: 'An Atlassian account email with an API token, sent as HTTP Basic.',
        credentials: [
          { name: 'email', type: 'String', displayName: 'Account email', secret: false },
          { name: 'apiToken', type: 'String', displayName: 'API token' },
        ],
      }),
    ],
  },
  destinationParameters: ['baseUrl'],
  check: buildHttpCheck({
    path: () => '/rest/api/3/myself',
    method: () => 'GET',
    basic: { usernameField: 'email', passwordField: 'apiToken' },
    inspect: (response) => ({ details: { accountId: detailString(response.json()?.accountId) } }),
  }),
};
