// The read-only roles of README's "Using it on a real tenant", on one watched subscription.
// Role definition IDs: Learn, "Azure built-in roles" (Cost Management Reader, Reader, Monitoring Reader).
// The billing-scope row of that table (Billing Reader on the `[costs] scope` billing account or
// profile) is a billing role, not an Azure RBAC one: it cannot be assigned here (docs/deployment.md).
// API version: Microsoft.Authorization/roleAssignments 2022-04-01.
targetScope = 'subscription'

param principalId string

var roles = {
  'Cost Management Reader': '72fafb9e-0641-4937-9268-a91bfd8191a3'
  Reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
  'Monitoring Reader': '43d0d8ad-25c7-4714-9337-8ba259a9fe05'
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in items(roles): {
  name: guid(subscription().id, principalId, role.value)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'costwatch: ${role.key} (read-only)'
  }
}]
