{{/*
Checks that need more than the JSON schema can say; each fails the render with a message naming
the value to set. Included once, from secret.yaml, which always renders.
*/}}
{{- define "caas-platform.validate" -}}
{{- $b := .Values.backends }}
{{- if not $b.existingSecret }}
{{- $hint := "(or set backends.existingSecret to a Secret holding MONGODB_URI, KAFKA_BOOTSTRAP_SERVERS, REDIS_URL and CAAS_SECRET_KEY)" }}
{{- if .Values.api.enabled }}
{{- if not $b.secretKey }}
{{- fail (printf "backends.secretKey is required %s; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'" $hint) }}
{{- end }}
{{- if and (ne .Values.api.environment "development") (lt (len $b.secretKey) 32) }}
{{- fail "backends.secretKey must be at least 32 characters outside api.environment=development" }}
{{- end }}
{{- end }}
{{- if not $b.mongodbUri }}{{ fail (printf "backends.mongodbUri is required %s" $hint) }}{{ end }}
{{- /* Schema patterns would echo a rejected value, and these URIs carry passwords. */}}
{{- if not (or (hasPrefix "mongodb://" $b.mongodbUri) (hasPrefix "mongodb+srv://" $b.mongodbUri)) }}
{{- fail "backends.mongodbUri must start with mongodb:// or mongodb+srv://" }}
{{- end }}
{{- if not $b.kafkaBootstrapServers }}{{ fail (printf "backends.kafkaBootstrapServers is required %s" $hint) }}{{ end }}
{{- if not $b.redisUrl }}{{ fail (printf "backends.redisUrl is required %s" $hint) }}{{ end }}
{{- if not (or (hasPrefix "redis://" $b.redisUrl) (hasPrefix "rediss://" $b.redisUrl)) }}
{{- fail "backends.redisUrl must start with redis:// or rediss://" }}
{{- end }}
{{- end }}
{{- $pdb := .Values.api.podDisruptionBudget }}
{{- if and $pdb.enabled (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- fail "api.podDisruptionBudget: set either minAvailable or maxUnavailable, not both (set the other to null)" }}
{{- end }}
{{- if and .Values.api.enabled .Values.api.serviceMonitor.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) }}
{{- fail "api.serviceMonitor.enabled needs the Prometheus Operator CRDs (monitoring.coreos.com/v1 ServiceMonitor) in the cluster; with `helm template` pass --api-versions monitoring.coreos.com/v1/ServiceMonitor" }}
{{- end }}
{{- end }}
