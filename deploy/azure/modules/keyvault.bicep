// Key Vault holding every secret the container apps reference (Container Apps secrets with
// keyVaultUrl + the "secrets" identity): the database URL, the Entra client secret, Streamlit's
// secrets.toml, the SMTP password and the Teams webhook URL. RBAC mode; the secrets identity gets
// Key Vault Secrets User (4633458b-17de-408a-b874-0445c86b69e6, Learn "Azure built-in roles") on this vault only.
// API versions: Microsoft.KeyVault/vaults 2023-07-01, Microsoft.Authorization/roleAssignments 2022-04-01.
param prefix string
param location string
param tags object
param secretsPrincipalId string
@description('Resource ID of the secrets identity: names its role assignment the same way as azuredeploy.json does.')
param secretsIdentityId string
@secure()
param databaseUrl string
@secure()
param entraClientSecret string
@secure()
param streamlitSecrets string
@secure()
param smtpPassword string
@secure()
param teamsWebhookUrl string

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-${take(prefix, 6)}-${uniqueString(resourceGroup().id)}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }
}

resource secretsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, secretsIdentityId, secretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
    principalId: secretsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'database-url'
  properties: { value: databaseUrl }
}

resource entraSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'microsoft-provider-authentication-secret'
  properties: { value: entraClientSecret }
}

resource streamlitSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'streamlit-secrets'
  properties: { value: streamlitSecrets }
}

resource smtpSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(smtpPassword)) {
  parent: vault
  name: 'smtp-password'
  properties: { value: smtpPassword }
}

resource teamsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(teamsWebhookUrl)) {
  parent: vault
  name: 'teams-webhook-url'
  properties: { value: teamsWebhookUrl }
}

output vaultUri string = vault.properties.vaultUri
