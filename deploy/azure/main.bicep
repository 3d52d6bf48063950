// costwatch on Azure Container Apps: `azd up` (azure.yaml at the repository's top) or the ARM twin of
// this file, azuredeploy.json, behind a "Deploy to Azure" button. Keep the two in step: the test
// tests/test_deploy_azure.py compares their parameters, environment variables, secrets and roles.
// Not compiled here (no Bicep CLI on the development machines); parsed by pycep-parser in that test.
targetScope = 'subscription'

@minLength(1)
@maxLength(18)
@description('Name of the azd environment; prefixes every resource and names the resource group rg-<name>.')
param environmentName string

@minLength(1)
@description('Region of every resource, e.g. westeurope.')
param location string

@minLength(1)
@description('Subscriptions to watch (COSTWATCH_SUBSCRIPTIONS): the identity gets the read-only roles on each.')
param subscriptionIds array

@description('[costs] scope: a billing account or billing profile to query costs at (empty: per subscription). The billing role there is granted by hand: docs/deployment.md.')
param costsScope string = ''

@minLength(1)
@description('The costwatch image built from deploy/Dockerfile, e.g. myregistry.azurecr.io/costwatch:0.1.0 (a public or anonymous-pull registry).')
param image string

@secure()
@minLength(16)
@description('Password of the PostgreSQL administrator "costwatch"; becomes part of the database URL secret.')
param postgresPassword string

@minLength(1)
@description('Application (client) ID of the Entra app registration the dashboard signs in with.')
param entraClientId string

@secure()
@minLength(1)
@description('A client secret of that app registration.')
param entraClientSecret string

@secure()
@minLength(32)
@description('A long random string of letters and digits: Streamlit signs its sign-in cookie with it.')
param cookieSecret string

@description('[dashboard.roles] as an object: e-mail, object ID, group or app role -> admin, finance or project_owner.')
param dashboardRoles object = {}

@description('Also require sign-in at the platform (Container Apps built-in authentication) before Streamlit sees a request.')
param builtInAuth bool = true

@description('[alerts.email] smtp_host; empty: no e-mail channel.')
param smtpHost string = ''

@description('[alerts.email] smtp_port.')
param smtpPort int = 587

@description('[alerts.email] username.')
param smtpUsername string = ''

@description('[alerts.email] sender.')
param smtpSender string = ''

@description('[alerts.email] recipients, comma-separated.')
param alertRecipients string = ''

@secure()
@description('[alerts.email] password (kept in Key Vault).')
param smtpPassword string = ''

@secure()
@description('[alerts.teams] webhook_url (kept in Key Vault); empty: no Teams channel.')
param teamsWebhookUrl string = ''

var prefix = toLower(environmentName)
var dashboardName = 'ca-${prefix}-dashboard'
var tags = { 'azd-env-name': environmentName, application: 'costwatch' }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${prefix}'
  location: location
  tags: tags
}

// The Log Analytics workspace and the Container Apps environment that sends it every line of output.
module env 'modules/environment.bicep' = {
  name: 'costwatch-environment'
  scope: rg
  params: { prefix: prefix, location: location, tags: tags }
}

module identity 'modules/identity.bicep' = {
  name: 'costwatch-identity'
  scope: rg
  params: { prefix: prefix, location: location, tags: tags }
}

module roles 'modules/roles.bicep' = [for subscriptionId in subscriptionIds: {
  name: 'costwatch-roles-${subscriptionId}'
  scope: subscription(subscriptionId)
  params: { principalId: identity.outputs.readerPrincipalId }
}]

module database 'modules/postgres.bicep' = {
  name: 'costwatch-postgres'
  scope: rg
  params: { prefix: prefix, location: location, tags: tags, password: postgresPassword }
}

module vault 'modules/keyvault.bicep' = {
  name: 'costwatch-keyvault'
  scope: rg
  params: {
    prefix: prefix
    location: location
    tags: tags
    secretsPrincipalId: identity.outputs.secretsPrincipalId
    secretsIdentityId: identity.outputs.secretsId
    databaseUrl: 'postgresql+psycopg://costwatch:${uriComponent(postgresPassword)}@${database.outputs.fqdn}:5432/costwatch?sslmode=require'
    entraClientSecret: entraClientSecret
    streamlitSecrets: join([
      '[auth]'
      'redirect_uri = "https://${dashboardName}.${env.outputs.defaultDomain}/oauth2callback"'
      'cookie_secret = "${cookieSecret}"'
      ''
      '[auth.microsoft]'
      'client_id = "${entraClientId}"'
      'client_secret = "${entraClientSecret}"'
      'server_metadata_url = "${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0/.well-known/openid-configuration"'
      ''
    ], '\n')
    smtpPassword: smtpPassword
    teamsWebhookUrl: teamsWebhookUrl
  }
}

module apps 'modules/apps.bicep' = {
  name: 'costwatch-apps'
  scope: rg
  params: {
    prefix: prefix
    location: location
    tags: tags
    image: image
    environmentId: env.outputs.environmentId
    dashboardName: dashboardName
    defaultDomain: env.outputs.defaultDomain
    readerIdentityId: identity.outputs.readerId
    readerClientId: identity.outputs.readerClientId
    secretsIdentityId: identity.outputs.secretsId
    vaultUri: vault.outputs.vaultUri
    subscriptionIds: subscriptionIds
    costsScope: costsScope
    entraClientId: entraClientId
    dashboardRoles: dashboardRoles
    builtInAuth: builtInAuth
    smtpHost: smtpHost
    smtpPort: smtpPort
    smtpUsername: smtpUsername
    smtpSender: smtpSender
    alertRecipients: alertRecipients
    smtpPasswordSet: !empty(smtpPassword)
    teams: !empty(teamsWebhookUrl)
  }
}

output AZURE_RESOURCE_GROUP string = rg.name
output DASHBOARD_URL string = 'https://${apps.outputs.dashboardFqdn}'
output MIGRATION_JOB string = apps.outputs.migrationJob
output READER_PRINCIPAL_ID string = identity.outputs.readerPrincipalId
