// Two user-assigned identities, so that each holds only what it needs:
// - reader: the identity costwatch signs in to Azure with (AZURE_CLIENT_ID); it gets exactly the
//   read-only roles of README's "Using it on a real tenant" (modules/roles.bicep), nothing else.
// - secrets: only reads the Key Vault secrets the container apps reference (modules/keyvault.bicep).
// API version: Microsoft.ManagedIdentity/userAssignedIdentities 2023-01-31.
param prefix string
param location string
param tags object

resource reader 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${prefix}-reader'
  location: location
  tags: tags
}

resource secrets 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${prefix}-secrets'
  location: location
  tags: tags
}

output readerId string = reader.id
output readerClientId string = reader.properties.clientId
output readerPrincipalId string = reader.properties.principalId
output secretsId string = secrets.id
output secretsPrincipalId string = secrets.properties.principalId
