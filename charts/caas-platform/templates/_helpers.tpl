{{/* Names, labels and shared pod fragments of the caas-platform chart. */}}

{{/* The chart name, overridable. */}}
{{- define "caas-platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: "<release>-<chart>", or just the release name when it already
contains the chart name. Kept to 50 characters so that suffixes like "-operator" still fit in 63.
*/}}
{{- define "caas-platform.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "caas-platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "caas-platform.labels" -}}
helm.sh/chart: {{ include "caas-platform.chart" . }}
app.kubernetes.io/name: {{ include "caas-platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: caas
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of the CRDs: no instance label, since CRDs are cluster-wide and outlive releases. */}}
{{- define "caas-platform.crdLabels" -}}
helm.sh/chart: {{ include "caas-platform.chart" . }}
app.kubernetes.io/name: {{ include "caas-platform.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: caas
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: (dict "ctx" $ "component" "operator"). */}}
{{- define "caas-platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "caas-platform.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component's objects: (dict "ctx" $ "component" "api"). */}}
{{- define "caas-platform.componentLabels" -}}
{{ include "caas-platform.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "caas-platform.operator.fullname" -}}
{{- printf "%s-operator" (include "caas-platform.fullname" .) }}
{{- end }}

{{- define "caas-platform.api.fullname" -}}
{{- printf "%s-api" (include "caas-platform.fullname" .) }}
{{- end }}

{{- define "caas-platform.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "caas-platform.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "caas-platform.api.serviceAccountName" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (include "caas-platform.api.fullname" .) .Values.api.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.api.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: a digest pins it; otherwise the tag, defaulting to appVersion. */}}
{{- define "caas-platform.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the backend settings: the user's, or the one this chart creates. */}}
{{- define "caas-platform.backendsSecretName" -}}
{{- if .Values.backends.existingSecret }}
{{- .Values.backends.existingSecret }}
{{- else }}
{{- printf "%s-backends" (include "caas-platform.fullname" .) }}
{{- end }}
{{- end }}

{{/* One env var read from the backends Secret: (dict "ctx" $ "name" "REDIS_URL"), the key
defaulting to the variable's name, or (dict "ctx" $ "name" "MONGODB_URI" "key" "API_MONGODB_URI"). */}}
{{- define "caas-platform.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "caas-platform.backendsSecretName" .ctx }}
      key: {{ default .name .key }}
{{- end }}

{{/* Environment of one application: (dict "ctx" $ "mongodbKey" "OPERATOR_MONGODB_URI"). Each
application reads MONGODB_URI from its own key: it connects as its own MongoDB user. */}}
{{- define "caas-platform.backendEnv" -}}
{{ include "caas-platform.secretEnv" (dict "ctx" .ctx "name" "MONGODB_URI" "key" .mongodbKey) }}
{{ include "caas-platform.secretEnv" (dict "ctx" .ctx "name" "KAFKA_BOOTSTRAP_SERVERS") }}
{{ include "caas-platform.secretEnv" (dict "ctx" .ctx "name" "REDIS_URL") }}
- name: CAAS_BACKEND_TIMEOUT_SECONDS
  value: {{ .ctx.Values.backends.timeoutSeconds | quote }}
- name: CAAS_LOG_FORMAT
  value: {{ .ctx.Values.logging.format | quote }}
- name: CAAS_LOG_LEVEL
  value: {{ .ctx.Values.logging.level | quote }}
{{- end }}

{{/* Egress rules of both NetworkPolicies, used only when networkPolicy.egress lists rules. */}}
{{- define "caas-platform.networkPolicyEgress" -}}
egress:
  # DNS, so the backends' host names resolve.
  - ports:
      - port: 53
        protocol: UDP
      - port: 53
        protocol: TCP
  {{- toYaml .Values.networkPolicy.egress | nindent 2 }}
{{- end }}

{{/* The audit verifier's objects: "<fullname>-audit-verifier" (a DNS label: at most 63). */}}
{{- define "caas-platform.auditVerifier.fullname" -}}
{{- printf "%s-audit-verifier" (include "caas-platform.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Whether the audit verifier is deployed: it is part of the control plane (the API's
ServiceAccount, MongoDB user and secret key), so only with it. */}}
{{- define "caas-platform.auditVerifier.enabled" -}}
{{- if and .Values.api.enabled .Values.auditVerifier.enabled }}true{{ end }}
{{- end }}

{{/* The webhook dispatcher's objects: "<fullname>-dispatcher" (a DNS label: at most 63). */}}
{{- define "caas-platform.dispatcher.fullname" -}}
{{- printf "%s-dispatcher" (include "caas-platform.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Whether the webhook dispatcher is deployed: a control-plane process (the API's MongoDB
user and secret key, whose KEK opens REST endpoints' signing secrets), so only with the API. */}}
{{- define "caas-platform.dispatcher.enabled" -}}
{{- if and .Values.api.enabled .Values.dispatcher.enabled }}true{{ end }}
{{- end }}
