import { CheckError } from '../../common/outbound/check-error';
import type { CheckContext, ConnectorDefinition } from '../connector.types';
import { auth, params } from '../metadata-builders';
import { buildHttpCheck, requireCredential } from './http.connector';
import { signSigV4 } from './sigv4';

/** us-east-1, eu-central-1, us-gov-west-1, cn-north-1, …: nothing that could change the host name's shape. */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

function region(ctx: CheckContext): string {
  const value = ctx.parameters.region;
  const region = typeof value === 'string' && value.trim() !== '' ? value.trim() : 'us-east-1';
  if (!REGION.test(region)) throw new CheckError('CONFIG_INVALID', 'region is not a valid AWS region name');
  return region;
}

export const awsSesConnector: ConnectorDefinition = {
  key: 'aws-ses',
  displayName: 'Amazon SES',
  description: 'Amazon Simple Email Service (API v2); the check reads the account\'s sending status with a SigV4-signed call.',
  category: 'email',
  verifiable: true,
  configMetadata: {
    parametersMetadata: params(
      { name: 'region', type: 'String', displayName: 'Region', required: true, defaultValue: 'us-east-1' },
      {
        name: 'baseUrl',
        type: 'Url',
        displayName: 'Endpoint URL',
        description: 'Defaults to https://email.<region>.amazonaws.com; set it for a VPC endpoint or a proxy.',
      },
    ),
    authMetadata: [
      auth({
        id: 'access_key',
        type: 'API_KEY',
        displayName: 'Access key',
        description: 'An IAM access key allowed ses:GetAccount; temporary credentials add their session token.',
        credentials: [
          { name: 'accessKeyId', type: 'String', displayName: 'Access key ID', secret: false },
          { name: 'secretAccessKey', type: 'String', displayName: 'Secret access key' },
          { name: 'sessionToken', type: 'String', displayName: 'Session token', required: false },
        ],
      }),
    ],
  },
  destinationParameters: ['baseUrl', 'region'],
  check: buildHttpCheck({
    defaultBaseUrl: (ctx) => `https://email.${region(ctx)}.amazonaws.com`,
    path: () => '/v2/email/account',
    method: () => 'GET',
    sign: (request, ctx) => {
      const sessionToken = ctx.credentials.sessionToken;
      return signSigV4(
        { method: request.method, url: request.url.toString(), body: request.body },
        {
          accessKeyId: requireCredential(ctx, 'accessKeyId'),
          secretAccessKey: requireCredential(ctx, 'secretAccessKey'),
          sessionToken: typeof sessionToken === 'string' && sessionToken !== '' ? sessionToken : undefined,
        },
        { region: region(ctx), service: 'ses' },
      ).headers;
    },
    inspect: (response) => {
      const body = response.json();
      return {
        details: {
          sendingEnabled: typeof body?.SendingEnabled === 'boolean' ? body.SendingEnabled : null,
          productionAccessEnabled: typeof body?.ProductionAccessEnabled === 'boolean' ? body.ProductionAccessEnabled : null,
        },
      };
    },
  }),
};
