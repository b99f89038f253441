{{/* Labels every object carries (manifests/ uses app.kubernetes.io/name only). */}}
{{- define "driftguard.labels" -}}
app.kubernetes.io/name: driftguard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{/* Selector labels of the Deployment's pods. */}}
{{- define "driftguard.selectorLabels" -}}
app.kubernetes.io/name: driftguard
app.kubernetes.io/component: controller
{{- end -}}

{{- define "driftguard.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The service account name the webhook's matchConditions exempt. */}}
{{- define "driftguard.serviceAccountUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:driftguard
{{- end -}}

{{/* Annotations of the webhook configurations. */}}
{{- define "driftguard.webhookAnnotations" -}}
{{- if eq .Values.certificates.source "cert-manager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/driftguard
{{- end }}
{{- end -}}

{{/* clientConfig of every webhook entry; `path` is /validate or /mutate. */}}
{{- define "driftguard.clientConfig" -}}
clientConfig:
  service:
    namespace: {{ .root.Release.Namespace }}
    name: driftguard
    path: {{ .path }}
    port: 443
  {{- if and (eq .root.Values.certificates.source "secret") .root.Values.certificates.caBundle }}
  caBundle: {{ .root.Values.certificates.caBundle }}
  {{- end }}
{{- end -}}

{{/* Identities driftguard always exempts; they never reach the webhook. */}}
{{- define "driftguard.matchConditions" -}}
matchConditions:
  - name: not-driftguard
    expression: request.userInfo.username != '{{ include "driftguard.serviceAccountUser" . }}'
  - name: not-flux-controllers
    expression: "!(request.userInfo.username.startsWith('system:serviceaccount:flux-system:') && request.userInfo.username.endsWith('-controller'))"
  - name: not-flagger
    expression: "!(request.userInfo.username.startsWith('system:serviceaccount:') && request.userInfo.username.endsWith(':flagger'))"
  - name: not-kube-controller-manager
    expression: request.userInfo.username != 'system:kube-controller-manager'
  - name: not-kube-system-service-accounts
    expression: "!request.userInfo.username.startsWith('system:serviceaccount:kube-system:')"
  - name: not-nodes
    expression: "!('system:nodes' in request.userInfo.groups)"
{{- end -}}
