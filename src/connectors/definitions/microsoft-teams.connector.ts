import type { CheckContext, ConnectorCategory, ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import { baseUrlParam, buildHttpCheck, detailString, OAUTH2_CLIENT_FIELDS, oauth2Params } from './http.connector';

const AUTHORIZATION_URL = 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize';
const TOKEN_URL = 'https://login.microsoftonline.com/common/oauth2/v2.0/token';
const APP_SCOPE = 'https://graph.microsoft.com/.default';

export interface GraphPresetOptions {
  key: string;
  displayName: string;
  description: string;
  category: ConnectorCategory;
  /** Delegated scopes asked for in the authorization-code flow. */
  delegatedScopes: string;
  availableScopes: string[];
}

/**
 * A Microsoft Graph preset. A delegated token is checked with GET /me; an app-only
 * (client credentials) token has no user, so it is checked with GET /organization.
 */
export function buildMicrosoftGraphConnector(options: GraphPresetOptions): ConnectorDefinition {
  const isAppOnly = (ctx: CheckContext) => ctx.auth.type === 'OAUTH2_CLIENT_CREDENTIALS';
  return {
    key: options.key,
    displayName: options.displayName,
    description: options.description,
    category: options.category,
    verifiable: true,
    configMetadata: {
      parametersMetadata: params(
        baseUrlParam('https://graph.microsoft.com/v1.0', 'Graph root; national clouds have their own.'),
        ...oauth2Params({ tokenUrl: TOKEN_URL, authorizationUrl: AUTHORIZATION_URL, tokenAuthMethod: 'client_secret_post' }),
      ),
      authMetadata: [
        auth({
          id: 'oauth2',
          type: 'OAUTH2_AUTHORIZATION_CODE',
          displayName: 'Microsoft account (delegated)',
          authProviderName: 'microsoft',
          authSettings: {
            parameters: { authorizationUrl: AUTHORIZATION_URL, tokenUrl: TOKEN_URL, scopes: options.delegatedScopes },
          },
          availableScopes: options.availableScopes,
          credentials: OAUTH2_CLIENT_FIELDS,
        }),
        auth({
          id: 'client_credentials',
          type: 'OAUTH2_CLIENT_CREDENTIALS',
          displayName: 'App registration (application permissions)',
          description: 'Use your tenant\'s token URL (…/<tenant-id>/oauth2/v2.0/token): "common" does not issue app-only tokens.',
          authProviderName: 'microsoft',
          authSettings: { parameters: { tokenUrl: TOKEN_URL, scopes: APP_SCOPE } },
          availableScopes: [APP_SCOPE],
          credentials: OAUTH2_CLIENT_FIELDS,
        }),
      ],
    },
    destinationParameters: ['baseUrl', 'tokenUrl', 'authorizationUrl'],
    check: buildHttpCheck({
      path: (ctx) => (isAppOnly(ctx) ? '/organization' : '/me'),
      method: () => 'GET',
      inspect: (response, ctx) => {
        const body = response.json();
        if (isAppOnly(ctx)) {
          const orgs = Array.isArray(body?.value) ? (body.value as Record<string, unknown>[]) : [];
          return { details: { organizationId: detailString(orgs[0]?.id) } };
        }
        return { details: { userId: detailString(body?.id) } };
      },
    }),
  };
}

export const microsoftTeamsConnector = buildMicrosoftGraphConnector({
  key: 'microsoft-teams',
  displayName: 'Microsoft Teams',
  description: 'Microsoft Teams through Microsoft Graph.',
  category: 'messaging',
  delegatedScopes: 'offline_access User.Read Team.ReadBasic.All',
  availableScopes: ['offline_access', 'User.Read', 'Team.ReadBasic.All', 'Channel.ReadBasic.All', 'ChannelMessage.Send', 'Chat.ReadWrite'],
});
