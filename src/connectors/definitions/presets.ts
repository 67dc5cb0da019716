import type { ConnectorDefinition } from '../connector.types';
import { awsSesConnector } from './aws-ses.connector';
import { clickupConnector } from './clickup.connector';
import { githubConnector } from './github.connector';
import { gitlabConnector } from './gitlab.connector';
import { googleDriveConnector } from './google-drive.connector';
import { httpConnector } from './http.connector';
import { jiraConnector } from './jira.connector';
import { mcpConnector } from './mcp.connector';
import { microsoftTeamsConnector } from './microsoft-teams.connector';
import { sharepointConnector } from './sharepoint.connector';
import { slackConnector } from './slack.connector';

export {
  awsSesConnector,
  clickupConnector,
  githubConnector,
  gitlabConnector,
  googleDriveConnector,
  httpConnector,
  jiraConnector,
  mcpConnector,
  microsoftTeamsConnector,
  sharepointConnector,
  slackConnector,
};

/** The generic `http` connector and every vendor preset built on its engine, in catalog order. */
export const HTTP_FAMILY_CONNECTORS: ConnectorDefinition[] = [
  httpConnector,
  githubConnector,
  gitlabConnector,
  jiraConnector,
  slackConnector,
  clickupConnector,
  microsoftTeamsConnector,
  sharepointConnector,
  googleDriveConnector,
  awsSesConnector,
  mcpConnector,
];
