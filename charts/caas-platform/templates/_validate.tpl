{{/*
Checks that need more than the JSON schema can say; each fails the render with a message naming
the value to set. Included once, from secret.yaml, which always renders.
*/}}
{{- define "caas-platform.validate" -}}
{{- $b := .Values.backends }}
{{- if not $b.existingSecret }}
{{- $hint := "(or set backends.existingSecret to a Secret holding OPERATOR_MONGODB_URI, API_MONGODB_URI, KAFKA_BOOTSTRAP_SERVERS, REDIS_URL and CAAS_SECRET_KEY)" }}
{{- if .Values.api.enabled }}
{{- if not $b.secretKey }}
{{- fail (printf "backends.secretKey is required %s; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'" $hint) }}
{{- end }}
{{- if and (ne .Values.api.environment "development") (lt (len $b.secretKey) 32) }}
{{- fail "backends.secretKey must be at least 32 characters outside api.environment=development" }}
{{- end }}
{{- end }}
{{- /* One MongoDB user per application (least privilege): each deployed one needs its own URI.
Schema patterns would echo a rejected value, and these URIs carry passwords. */}}
{{- $mongo := $b.mongodb }}
{{- $uris := dict }}
{{- if .Values.operator.enabled }}{{ $_ := set $uris "operatorUri" $mongo.operatorUri }}{{ end }}
{{- if .Values.api.enabled }}{{ $_ := set $uris "apiUri" $mongo.apiUri }}{{ end }}
{{- range $key := keys $uris | sortAlpha }}
{{- $uri := get $uris $key }}
{{- if not $uri }}
{{- fail (printf "backends.mongodb.%s is required: the %s connects to MongoDB as its own user (docs/mongodb-users.md) %s" $key (ternary "operator" "control plane" (eq $key "operatorUri")) $hint) }}
{{- end }}
{{- if not (or (hasPrefix "mongodb://" $uri) (hasPrefix "mongodb+srv://" $uri)) }}
{{- fail (printf "backends.mongodb.%s must start with mongodb:// or mongodb+srv://" $key) }}
{{- end }}
{{- end }}
{{- if and .Values.operator.enabled .Values.api.enabled }}
{{- $userOf := `^mongodb(\+srv)?://([^:@/]*)(:[^@/]*)?@` }}
{{- $opUser := regexReplaceAll $userOf (regexFind $userOf $mongo.operatorUri) "${2}" }}
{{- $apiUser := regexReplaceAll $userOf (regexFind $userOf $mongo.apiUri) "${2}" }}
{{- if or (eq $mongo.operatorUri $mongo.apiUri) (and $opUser (eq $opUser $apiUser)) }}
{{- fail "backends.mongodb.apiUri must name a different MongoDB user than backends.mongodb.operatorUri: the control plane must not get the operator's privileges (users caas-api and caas-operator, docs/mongodb-users.md)" }}
{{- end }}
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
{{- $verifierPdb := .Values.auditVerifier.podDisruptionBudget }}
{{- if and $verifierPdb.enabled (not (kindIs "invalid" $verifierPdb.minAvailable)) (not (kindIs "invalid" $verifierPdb.maxUnavailable)) }}
{{- fail "auditVerifier.podDisruptionBudget: set either minAvailable or maxUnavailable, not both (set the other to null)" }}
{{- end }}
{{- if and (include "caas-platform.auditVerifier.enabled" .) .Values.auditVerifier.serviceMonitor.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) }}
{{- fail "auditVerifier.serviceMonitor.enabled needs the Prometheus Operator CRDs (monitoring.coreos.com/v1 ServiceMonitor) in the cluster; with `helm template` pass --api-versions monitoring.coreos.com/v1/ServiceMonitor" }}
{{- end }}
{{- $dispatcherPdb := .Values.dispatcher.podDisruptionBudget }}
{{- if and $dispatcherPdb.enabled (not (kindIs "invalid" $dispatcherPdb.minAvailable)) (not (kindIs "invalid" $dispatcherPdb.maxUnavailable)) }}
{{- fail "dispatcher.podDisruptionBudget: set either minAvailable or maxUnavailable, not both (set the other to null)" }}
{{- end }}
{{- if and (include "caas-platform.dispatcher.enabled" .) .Values.dispatcher.serviceMonitor.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) }}
{{- fail "dispatcher.serviceMonitor.enabled needs the Prometheus Operator CRDs (monitoring.coreos.com/v1 ServiceMonitor) in the cluster; with `helm template` pass --api-versions monitoring.coreos.com/v1/ServiceMonitor" }}
{{- end }}
{{- if and .Values.api.enabled .Values.api.serviceMonitor.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) }}
{{- fail "api.serviceMonitor.enabled needs the Prometheus Operator CRDs (monitoring.coreos.com/v1 ServiceMonitor) in the cluster; with `helm template` pass --api-versions monitoring.coreos.com/v1/ServiceMonitor" }}
{{- end }}
{{- end }}
