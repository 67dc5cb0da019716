import type { ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import { baseUrlParam, buildHttpCheck, detailString, OAUTH2_CLIENT_FIELDS, oauth2Params, scopeList } from './http.connector';

const AUTHORIZATION_URL = 'https://github.com/login/oauth/authorize';
const TOKEN_URL = 'https://github.com/login/oauth/access_token';

export const githubConnector: ConnectorDefinition = {
  key: 'github',
  displayName: 'GitHub',
  description: 'GitHub or GitHub Enterprise Server REST API; the check reads the authenticated user.',
  category: 'scm',
  verifiable: true,
  configMetadata: {
    parametersMetadata: params(
      baseUrlParam('https://api.github.com', 'API root; https://<host>/api/v3 for GitHub Enterprise Server.'),
      ...oauth2Params({ tokenUrl: TOKEN_URL, authorizationUrl: AUTHORIZATION_URL, tokenAuthMethod: 'client_secret_post' }),
    ),
    authMetadata: [
      auth({
        id: 'pat',
        type: 'BEARER',
        displayName: 'Personal access token',
        description: 'A classic or fine-grained personal access token.',
        credentials: [{ name: 'token', type: 'String', displayName: 'Token' }],
      }),
      auth({
        id: 'oauth2',
        type: 'OAUTH2_AUTHORIZATION_CODE',
        displayName: 'GitHub OAuth app',
        authProviderName: 'github',
        authSettings: { parameters: { authorizationUrl: AUTHORIZATION_URL, tokenUrl: TOKEN_URL, scopes: 'read:user' } },
        availableScopes: ['repo', 'read:user', 'user:email', 'read:org', 'workflow', 'admin:repo_hook'],
        credentials: OAUTH2_CLIENT_FIELDS,
      }),
    ],
  },
  destinationParameters: ['baseUrl', 'tokenUrl', 'authorizationUrl'],
  check: buildHttpCheck({
    path: () => '/user',
    method: () => 'GET',
    headers: { Accept: 'application/vnd.github+json', 'X-GitHub-Api-Version': '2022-11-28' },
    inspect: (response) => ({
      details: { login: detailString(response.json()?.login), scopes: scopeList(response.header('x-oauth-scopes')) },
    }),
  }),
};
