{{- define "appstack-operator.labels" -}}
app.kubernetes.io/name: appstack-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "appstack-operator.selector" -}}
app.kubernetes.io/name: appstack-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "appstack-operator.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
