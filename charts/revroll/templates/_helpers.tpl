{{/*
Name of the chart, overridable with nameOverride.
*/}}
{{- define "revroll.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name of the release's objects. A release named "revroll" gives "revroll",
not "revroll-revroll".
*/}}
{{- define "revroll.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "revroll.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "revroll.labels" -}}
helm.sh/chart: {{ include "revroll.chart" . }}
{{ include "revroll.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades (a Deployment's selector is immutable).
*/}}
{{- define "revroll.selectorLabels" -}}
app.kubernetes.io/name: {{ include "revroll.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount revroll runs as.
*/}}
{{- define "revroll.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "revroll.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Namespace of the run state (ConfigMaps and Leases revroll-<policy>): the release namespace
unless stateNamespace is set.
*/}}
{{- define "revroll.stateNamespace" -}}
{{- default .Release.Namespace .Values.stateNamespace }}
{{- end }}

{{/*
Name of the ConfigMap holding the policies.
*/}}
{{- define "revroll.policiesConfigMap" -}}
{{- default (printf "%s-policies" (include "revroll.fullname" .)) .Values.existingPoliciesConfigMap }}
{{- end }}

{{/*
The image reference; a digest, when set, wins over the tag.
*/}}
{{- define "revroll.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}
