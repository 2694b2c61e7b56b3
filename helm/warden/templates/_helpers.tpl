{{/* The chart name, truncated to 63 characters (DNS label limit). */}}
{{- define "warden.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full resource name prefix: release-chart, unless overridden. */}}
{{- define "warden.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The standard labels on every resource, without a component: the
     server's resources add "server" (warden.serverLabels), the migration
     Job "migrate". */}}
{{- define "warden.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "warden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: warden
{{- end -}}

{{/* The standard labels of wardend's own resources (Deployment, its pods,
     Service). */}}
{{- define "warden.serverLabels" -}}
{{ include "warden.labels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{/* The labels that select wardend's pods (Service, PodDisruptionBudget,
     NetworkPolicy, anti-affinity, spreading). The component keeps the
     migration Job's pod (component "migrate") out of them. A Deployment's
     selector is immutable: changing these breaks upgrades (README). */}}
{{- define "warden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "warden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "warden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "warden.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "warden.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* wardend's config file: the chart's own settings, then .Values.config. */}}
{{- define "warden.config" -}}
{{- $own := dict
    "listen" (printf "0.0.0.0:%v" .Values.service.grpcPort)
    "metrics" (dict "listen" (printf "0.0.0.0:%v" .Values.service.metricsPort))
    "health" (dict "listen" (printf "0.0.0.0:%v" .Values.service.healthPort))
    "shutdown" (dict "drain_delay_ms" .Values.shutdown.drainDelayMs "grace_ms" .Values.shutdown.graceMs) -}}
{{- if .Values.tls.enabled -}}
{{- $tls := dict "cert_file" "/etc/warden/tls/tls.crt" "key_file" "/etc/warden/tls/tls.key" -}}
{{- if .Values.tls.clientCa.existingSecret -}}
{{- $_ := set $tls "client_ca_file" "/etc/warden/client-ca/ca.crt" -}}
{{- end -}}
{{- $_ := set $own "tls" $tls -}}
{{- else -}}
{{/* Without TLS wardend refuses a non-loopback listen address unless told
     plaintext is meant (tls.enabled in values.yaml says when it is). */}}
{{- $_ := set $own "tls" (dict "insecure_plaintext" true) -}}
{{- end -}}
{{- $redisTls := dict -}}
{{- with .Values.redis.tls -}}
{{- if and .existingSecret .ca -}}
{{- $_ := set $redisTls "ca_file" "/etc/warden/redis-tls/ca.crt" -}}
{{- end -}}
{{- if and .existingSecret .clientCertificate -}}
{{- $_ := set $redisTls "cert_file" "/etc/warden/redis-tls/tls.crt" -}}
{{- $_ := set $redisTls "key_file" "/etc/warden/redis-tls/tls.key" -}}
{{- end -}}
{{- if .serverName -}}
{{- $_ := set $redisTls "server_name" .serverName -}}
{{- end -}}
{{- end -}}
{{- if $redisTls -}}
{{- $_ := set $own "redis" (dict "tls" $redisTls) -}}
{{- end -}}
{{- if .Values.audit.existingSecret -}}
{{- $_ := set $own "audit" (dict "signing_key_file" (printf "/etc/warden/audit/%s" .Values.audit.key)) -}}
{{- end -}}
{{- if .Values.bundle.inline -}}
{{- $_ := set $own "bundle" "/etc/warden/config/bundle.yaml" -}}
{{- end -}}
{{- toYaml (mergeOverwrite (deepCopy .Values.config) $own) -}}
{{- end -}}
