{{/* Chart name, truncated to a DNS label. */}}
{{- define "mcp-connector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, unless it does not contain the chart name. */}}
{{- define "mcp-connector.fullname" -}}
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

{{- define "mcp-connector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-connector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mcp-connector.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{ include "mcp-connector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mcp-connector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mcp-connector.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mcp-connector.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* true when the control plane is reached through a user-provided kubeconfig Secret. */}}
{{- define "mcp-connector.useKubeconfigSecret" -}}
{{- if .Values.spaces.controlPlane.kubeconfigSecret.name -}}true{{- end -}}
{{- end -}}

{{/* The Secret mounted at /etc/mcp-connector/control-plane, and the key mounted there. */}}
{{- define "mcp-connector.controlPlaneSecretName" -}}
{{- if include "mcp-connector.useKubeconfigSecret" . -}}
{{- .Values.spaces.controlPlane.kubeconfigSecret.name -}}
{{- else -}}
{{- printf "%s-token" (include "mcp-connector.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- define "mcp-connector.controlPlaneSecretKey" -}}
{{- if include "mcp-connector.useKubeconfigSecret" . -}}
{{- .Values.spaces.controlPlane.kubeconfigSecret.key | default "kubeconfig" -}}
{{- else -}}
token
{{- end -}}
{{- end -}}

{{- define "mcp-connector.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "mcp-connector.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{/*
Fails the render with a clear message when the values cannot work. Included by the Deployment.
*/}}
{{- define "mcp-connector.validate" -}}
{{- if not .Values.spaces.controlPlane.claimNamespace -}}
{{- fail "spaces.controlPlane.claimNamespace is required: the control-plane namespace that holds this cluster's claims" -}}
{{- end -}}
{{- if not (include "mcp-connector.useKubeconfigSecret" .) -}}
{{- if not .Values.spaces.host -}}
{{- fail "set either spaces.controlPlane.kubeconfigSecret.name (a kubeconfig for the control plane) or spaces.host, upbound.token and spaces.controlPlane.name (an Upbound Space)" -}}
{{- end -}}
{{- if not .Values.upbound.token -}}
{{- fail "upbound.token is required when connecting through spaces.host" -}}
{{- end -}}
{{- if not .Values.spaces.controlPlane.name -}}
{{- fail "spaces.controlPlane.name is required when connecting through spaces.host" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pod-level and container-level security settings shared by the server and the hook Job. */}}
{{- define "mcp-connector.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "mcp-connector.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
