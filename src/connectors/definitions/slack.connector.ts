import type { ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import { baseUrlParam, buildHttpCheck, detailString, scopeList, shortCode } from './http.connector';

/** Slack error codes that mean "this token does not authenticate" (Slack answers them inside a 200). */
const AUTH_ERRORS = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'not_allowed_token_type',
  'ekm_access_denied',
]);

export const slackConnector: ConnectorDefinition = {
  key: 'slack',
  displayName: 'Slack',
  description: 'Slack Web API; the check calls auth.test with the bot token.',
  category: 'messaging',
  verifiable: true,
  configMetadata: {
    parametersMetadata: params(baseUrlParam('https://slack.com/api', 'Web API root.')),
    authMetadata: [
      auth({
        id: 'bot_token',
        type: 'BEARER',
        displayName: 'Bot token',
        description: 'A bot (xoxb-) or user (xoxp-) token, sent as Authorization: Bearer.',
        credentials: [{ name: 'token', type: 'String', displayName: 'Token' }],
      }),
    ],
  },
  destinationParameters: ['baseUrl'],
  check: buildHttpCheck({
    path: () => '/auth.test',
    method: () => 'POST',
    body: () => ({ contentType: 'application/x-www-form-urlencoded', content: '' }),
    inspect: (response) => {
      const body = response.json();
      if (!body) return { error: { code: 'UPSTREAM_ERROR', message: 'slack answered with an unexpected body' } };
      if (body.ok !== true) {
        const code = shortCode(body.error);
        return {
          error: {
            code: code !== null && AUTH_ERRORS.has(code) ? 'AUTH_FAILED' : 'UPSTREAM_ERROR',
            message: `slack answered ${code ?? 'ok: false'}`,
          },
        };
      }
      return {
        details: {
          team: detailString(body.team),
          user: detailString(body.user),
          scopes: scopeList(response.header('x-oauth-scopes')),
        },
      };
    },
  }),
};
