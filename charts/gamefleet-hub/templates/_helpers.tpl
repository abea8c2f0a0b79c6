{{/* The name of every object: fullnameOverride, else the release name when it holds the
chart's name, else <release>-<chart>. */}}
{{- define "hub.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hub.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hub.labels" -}}
{{ include "hub.selectorLabels" . }}
app.kubernetes.io/part-of: gamefleet
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "hub.tokenSecret" -}}
{{- .Values.tokens.secretName | default (printf "%s-tokens" (include "hub.fullname" .)) -}}
{{- end -}}

{{- define "hub.storeURL" -}}
{{- if eq .Values.store.type "sqlite" -}}
sqlite://{{ .Values.store.sqlite.path }}
{{- else if eq .Values.store.type "etcd" -}}
etcd://{{ join "," .Values.store.etcd.endpoints }}{{ .Values.store.etcd.prefix }}
{{- else -}}
{{- fail (printf "store.type: %q is neither sqlite nor etcd" .Values.store.type) -}}
{{- end -}}
{{- end -}}

{{/* The hub container, shared by the StatefulSet (SQLite) and the Deployment (etcd). */}}
{{- define "hub.container" -}}
{{- $tokens := or .Values.tokens.secretName .Values.tokens.create -}}
- name: hub
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if eq .Values.store.type "etcd" }}
  env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
  {{- end }}
  args:
    - hub
    - serve
    - --store={{ include "hub.storeURL" . }}
    - --listen=0.0.0.0:{{ .Values.api.port }}
    {{- if eq .Values.store.type "etcd" }}
    - --advertise=$(POD_IP):{{ .Values.api.port }}
    {{- end }}
    {{- if .Values.metrics.enabled }}
    - --metrics-listen=0.0.0.0:{{ .Values.metrics.port }}
    {{- end }}
    {{- if .Values.tls.secretName }}
    - --tls-cert=/etc/gamefleet/tls/tls.crt
    - --tls-key=/etc/gamefleet/tls/tls.key
    {{- end }}
    {{- if .Values.agents.clientCASecretName }}
    {{- if not .Values.tls.secretName }}
    {{- fail "agents.clientCASecretName: the agents' mTLS port needs tls.secretName" }}
    {{- end }}
    - --client-ca=/etc/gamefleet/agent-ca/ca.crt
    - --agent-listen=0.0.0.0:{{ .Values.agents.port }}
    {{- end }}
    {{- if $tokens }}
    - --token-file=/etc/gamefleet/tokens/tokens
    {{- end }}
    {{- if .Values.insecure }}
    - --insecure
    {{- end }}
    {{- if .Values.console.enabled }}
    - --console-listen=0.0.0.0:{{ .Values.console.port }}
    {{- end }}
    {{- range .Values.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  ports:
    - {name: grpc, containerPort: {{ .Values.api.port }}}
    {{- if .Values.agents.clientCASecretName }}
    - {name: agents, containerPort: {{ .Values.agents.port }}}
    {{- end }}
    {{- if .Values.metrics.enabled }}
    - {name: metrics, containerPort: {{ .Values.metrics.port }}}
    {{- end }}
    {{- if .Values.console.enabled }}
    - {name: console, containerPort: {{ .Values.console.port }}}
    {{- end }}
  # gRPC health: SERVING while the store takes writes (every replica).
  readinessProbe:
    grpc: {port: {{ .Values.api.port }}}
    periodSeconds: 5
  {{- if eq .Values.store.type "sqlite" }}
  livenessProbe:
    grpc: {port: {{ .Values.api.port }}}
    periodSeconds: 10
    failureThreshold: 6
  {{- end }}
  {{- with .Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if or (eq .Values.store.type "sqlite") .Values.tls.secretName .Values.agents.clientCASecretName $tokens }}
  volumeMounts:
    {{- if eq .Values.store.type "sqlite" }}
    - {name: data, mountPath: {{ dir .Values.store.sqlite.path }}}
    {{- end }}
    {{- if .Values.tls.secretName }}
    - {name: tls, mountPath: /etc/gamefleet/tls, readOnly: true}
    {{- end }}
    {{- if .Values.agents.clientCASecretName }}
    - {name: agent-ca, mountPath: /etc/gamefleet/agent-ca, readOnly: true}
    {{- end }}
    {{- if $tokens }}
    - {name: tokens, mountPath: /etc/gamefleet/tokens, readOnly: true}
    {{- end }}
  {{- end }}
{{- end -}}

{{- define "hub.volumes" -}}
{{- $tokens := or .Values.tokens.secretName .Values.tokens.create -}}
{{- if or .Values.tls.secretName .Values.agents.clientCASecretName $tokens }}
volumes:
  {{- if .Values.tls.secretName }}
  - name: tls
    secret: {secretName: {{ .Values.tls.secretName }}}
  {{- end }}
  {{- if .Values.agents.clientCASecretName }}
  - name: agent-ca
    secret: {secretName: {{ .Values.agents.clientCASecretName }}}
  {{- end }}
  {{- if $tokens }}
  - name: tokens
    secret: {secretName: {{ include "hub.tokenSecret" . }}}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "hub.podMetadata" -}}
labels:
  {{- include "hub.labels" . | nindent 2 }}
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $scrape := and .Values.metrics.enabled .Values.metrics.podAnnotations }}
{{- if or $scrape .Values.podAnnotations }}
{{- if eq .Values.store.type "etcd" }}
# Every replica serves metrics; gamefleet_hub_leader tells the leader (1) apart.
{{- end }}
annotations:
  {{- if $scrape }}
  prometheus.io/scrape: "true"
  prometheus.io/port: {{ .Values.metrics.port | quote }}
  prometheus.io/path: /metrics
  {{- end }}
  {{- with .Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "hub.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.affinity }}
affinity:
  {{- toYaml .Values.affinity | nindent 2 }}
{{- else if eq .Values.store.type "etcd" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "hub.selectorLabels" . | nindent 14 }}
{{- end }}
{{- end -}}
