import { buildMicrosoftGraphConnector } from './microsoft-teams.connector';

export const sharepointConnector = buildMicrosoftGraphConnector({
  key: 'sharepoint',
  displayName: 'SharePoint',
  description: 'SharePoint sites and document libraries through Microsoft Graph.',
  category: 'storage',
  delegatedScopes: 'offline_access User.Read Sites.Read.All',
  availableScopes: ['offline_access', 'User.Read', 'Sites.Read.All', 'Sites.ReadWrite.All', 'Files.Read.All', 'Files.ReadWrite.All'],
});
