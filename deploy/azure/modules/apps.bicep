// The two costwatch processes as container apps of one image, and the migration job.
// - collector: `costwatch schedule`, exactly two replicas; one leads through the lease row in the
//   store, the other takes over within a minute (README "Keeping it fresh"). No ingress: its
//   /metrics (9464) answers the liveness probe and an in-environment Prometheus.
// - dashboard: `costwatch dashboard` behind HTTPS ingress with Entra ID sign-in: Streamlit's own OIDC
//   ([dashboard] auth_enabled, secrets.toml mounted from Key Vault) decides roles; the platform's
//   built-in authentication (authConfigs) optionally refuses anyone not signed in before that.
// - migrate: a manual Container Apps job running `costwatch db upgrade` (azd's postprovision hook
//   starts it; after the button, start it once by hand).
// Secrets are Key Vault references (keyVaultUrl + the secrets identity); no value passes through here.
// API versions: Microsoft.App/containerApps, containerApps/authConfigs and jobs 2024-03-01.
param prefix string
param location string
param tags object
param image string
param environmentId string
param dashboardName string
@description('The Container Apps environment\'s default domain: the dashboard is https://<dashboardName>.<defaultDomain>.')
param defaultDomain string
param readerIdentityId string
param readerClientId string
param secretsIdentityId string
param vaultUri string
param subscriptionIds array
param costsScope string
param entraClientId string
param dashboardRoles object
param builtInAuth bool
param smtpHost string
param smtpPort int
param smtpUsername string
param smtpSender string
param alertRecipients string
param smtpPasswordSet bool
param teams bool

var dashboardFqdn = '${dashboardName}.${defaultDomain}'

// Container Apps secrets read from Key Vault by the secrets identity (keyVaultUrl + identity).
var vaultSecrets = {
  databaseUrl: { name: 'database-url', keyVaultUrl: '${vaultUri}secrets/database-url', identity: secretsIdentityId }
  smtpPassword: { name: 'smtp-password', keyVaultUrl: '${vaultUri}secrets/smtp-password', identity: secretsIdentityId }
  teamsWebhookUrl: { name: 'teams-webhook-url', keyVaultUrl: '${vaultUri}secrets/teams-webhook-url', identity: secretsIdentityId }
  streamlitSecrets: { name: 'streamlit-secrets', keyVaultUrl: '${vaultUri}secrets/streamlit-secrets', identity: secretsIdentityId }
  entraClientSecret: {
    name: 'microsoft-provider-authentication-secret'
    keyVaultUrl: '${vaultUri}secrets/microsoft-provider-authentication-secret'
    identity: secretsIdentityId
  }
}

var databaseSecret = [vaultSecrets.databaseUrl]
var alertSecrets = concat(
  smtpPasswordSet ? [vaultSecrets.smtpPassword] : [],
  teams ? [vaultSecrets.teamsWebhookUrl] : []
)

var commonEnv = [
  { name: 'COSTWATCH_DATABASE_URL', secretRef: 'database-url' }
  { name: 'COSTWATCH_LOG_FORMAT', value: 'json' }
]

var collectorEnv = concat(
  commonEnv,
  [
    { name: 'AZURE_CLIENT_ID', value: readerClientId }
    { name: 'COSTWATCH_SUBSCRIPTIONS', value: join(subscriptionIds, ',') }
    { name: 'COSTWATCH_SCHEDULE__METRICS_HOST', value: '0.0.0.0' }
    { name: 'COSTWATCH_SCHEDULE__METRICS_PORT', value: '9464' }
    { name: 'COSTWATCH_ALERTS__DASHBOARD_URL', value: 'https://${dashboardFqdn}' }
  ],
  empty(costsScope) ? [] : [{ name: 'COSTWATCH_COSTS__SCOPE', value: costsScope }],
  empty(smtpHost) ? [] : [
    { name: 'COSTWATCH_ALERTS__EMAIL__SMTP_HOST', value: smtpHost }
    { name: 'COSTWATCH_ALERTS__EMAIL__SMTP_PORT', value: string(smtpPort) }
    { name: 'COSTWATCH_ALERTS__EMAIL__USERNAME', value: smtpUsername }
    { name: 'COSTWATCH_ALERTS__EMAIL__SENDER', value: smtpSender }
    { name: 'COSTWATCH_ALERTS__EMAIL__RECIPIENTS', value: alertRecipients }
  ],
  smtpPasswordSet ? [{ name: 'COSTWATCH_ALERTS__EMAIL__PASSWORD', secretRef: 'smtp-password' }] : [],
  teams ? [{ name: 'COSTWATCH_ALERTS__TEAMS__WEBHOOK_URL', secretRef: 'teams-webhook-url' }] : []
)

var dashboardEnv = concat(commonEnv, [
  { name: 'COSTWATCH_DASHBOARD__AUTH_ENABLED', value: 'true' }
  { name: 'COSTWATCH_DASHBOARD__AUTH_PROVIDER', value: 'microsoft' }
  { name: 'COSTWATCH_DASHBOARD__ROLES', value: string(dashboardRoles) }
  { name: 'COSTWATCH_HEALTHCHECK_TARGET', value: 'dashboard' }
])

resource collector 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'ca-${prefix}-collector'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${readerIdentityId}': {}, '${secretsIdentityId}': {} }
  }
  properties: {
    managedEnvironmentId: environmentId
    configuration: {
      activeRevisionsMode: 'Single'
      secrets: concat(databaseSecret, alertSecrets)
    }
    template: {
      containers: [
        {
          name: 'collector'
          image: image
          command: ['costwatch', 'schedule']
          env: collectorEnv
          resources: { cpu: json('0.5'), memory: '1Gi' }
          probes: [
            {
              type: 'Liveness'
              httpGet: { path: '/metrics', port: 9464 }
              initialDelaySeconds: 30
              periodSeconds: 30
            }
          ]
        }
      ]
      scale: { minReplicas: 2, maxReplicas: 2 }
    }
  }
}

resource dashboard 'Microsoft.App/containerApps@2024-03-01' = {
  name: dashboardName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${secretsIdentityId}': {} }
  }
  properties: {
    managedEnvironmentId: environmentId
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 8501
        transport: 'auto'
        allowInsecure: false
        // Streamlit keeps one websocket per user: a reconnect must find the same replica.
        stickySessions: { affinity: 'sticky' }
      }
      secrets: concat(databaseSecret, [
        vaultSecrets.streamlitSecrets
        vaultSecrets.entraClientSecret
      ])
    }
    template: {
      containers: [
        {
          name: 'dashboard'
          image: image
          command: ['costwatch', 'dashboard', '--host', '0.0.0.0', '--port', '8501']
          env: dashboardEnv
          resources: { cpu: json('0.5'), memory: '1Gi' }
          // Streamlit reads .streamlit/secrets.toml of its working folder (/app in the image).
          volumeMounts: [{ volumeName: 'streamlit', mountPath: '/app/.streamlit' }]
          probes: [
            {
              type: 'Liveness'
              httpGet: { path: '/_stcore/health', port: 8501 }
              initialDelaySeconds: 20
              periodSeconds: 30
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'streamlit'
          storageType: 'Secret'
          secrets: [{ secretRef: 'streamlit-secrets', path: 'secrets.toml' }]
        }
      ]
      scale: { minReplicas: 1, maxReplicas: 2 }
    }
  }
}

resource dashboardAuth 'Microsoft.App/containerApps/authConfigs@2024-03-01' = if (builtInAuth) {
  parent: dashboard
  name: 'current'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: ['/_stcore/health']
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: entraClientId
          clientSecretSettingName: 'microsoft-provider-authentication-secret'
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: { allowedAudiences: ['api://${entraClientId}', entraClientId] }
      }
    }
    httpSettings: { requireHttps: true }
  }
}

resource migrate 'Microsoft.App/jobs@2024-03-01' = {
  name: 'caj-${prefix}-migrate'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${secretsIdentityId}': {} }
  }
  properties: {
    environmentId: environmentId
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 3600
      replicaRetryLimit: 0
      manualTriggerConfig: { parallelism: 1, replicaCompletionCount: 1 }
      secrets: databaseSecret
    }
    template: {
      containers: [
        {
          name: 'migrate'
          image: image
          command: ['costwatch', 'db', 'upgrade']
          env: commonEnv
          resources: { cpu: json('0.5'), memory: '1Gi' }
        }
      ]
    }
  }
}

output dashboardFqdn string = dashboard.properties.configuration.ingress.fqdn
output migrationJob string = migrate.name
