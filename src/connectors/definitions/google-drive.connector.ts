import type { ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import { baseUrlParam, buildHttpCheck, detailString, OAUTH2_CLIENT_FIELDS, oauth2Params } from './http.connector';

const AUTHORIZATION_URL = 'https://accounts.google.com/o/oauth2/v2/auth';
const TOKEN_URL = 'https://oauth2.googleapis.com/token';

export const googleDriveConnector: ConnectorDefinition = {
  key: 'google-drive',
  displayName: 'Google Drive',
  description: 'Google Drive API v3; the check reads the authorized user\'s about record.',
  category: 'storage',
  verifiable: true,
  configMetadata: {
    parametersMetadata: params(
      baseUrlParam('https://www.googleapis.com'),
      ...oauth2Params({ tokenUrl: TOKEN_URL, authorizationUrl: AUTHORIZATION_URL, tokenAuthMethod: 'client_secret_post' }),
    ),
    authMetadata: [
      auth({
        id: 'oauth2',
        type: 'OAUTH2_AUTHORIZATION_CODE',
        displayName: 'Google account',
        authProviderName: 'google',
        authSettings: {
          parameters: {
            authorizationUrl: AUTHORIZATION_URL,
            tokenUrl: TOKEN_URL,
            scopes: 'https://www.googleapis.com/auth/drive.metadata.readonly',
            // Google issues a refresh token only when asked for offline access.
            authorizationParams: { access_type: 'offline', prompt: 'consent' },
          },
        },
        availableScopes: [
          'https://www.googleapis.com/auth/drive.metadata.readonly',
          'https://www.googleapis.com/auth/drive.readonly',
          'https://www.googleapis.com/auth/drive.file',
          'https://www.googleapis.com/auth/drive',
        ],
        credentials: OAUTH2_CLIENT_FIELDS,
      }),
    ],
  },
  destinationParameters: ['baseUrl', 'tokenUrl', 'authorizationUrl'],
  check: buildHttpCheck({
    path: () => '/drive/v3/about?fields=user',
    method: () => 'GET',
    inspect: (response) => {
      const user = response.json()?.user as Record<string, unknown> | undefined;
      return { details: { permissionId: detailString(user?.permissionId) } };
    },
  }),
};
