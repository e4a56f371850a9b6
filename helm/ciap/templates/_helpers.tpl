{{/*
Names, labels and the pieces shared by both modes. The sidecar helpers (ciap.sidecar,
ciap.sidecar.volumes, ciap.sidecar.podSpecPatch) only read .Values and .Release, so a parent
chart can call them with its own values for ciap:
  include "ciap.sidecar" (dict "Values" .Values.ciap "Release" .Release)
*/}}

{{- define "ciap.name" -}}
{{- default "ciap" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ciap.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "ciap" .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ciap.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ciap.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ciap.labels" -}}
{{ include "ciap.selectorLabels" . }}
app.kubernetes.io/component: {{ .Values.mode }}
app.kubernetes.io/part-of: ciap
{{- if .Chart }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}
{{- end -}}

{{- define "ciap.image" -}}
{{- $tag := .Values.image.tag -}}
{{- if and (not $tag) .Chart -}}{{- $tag = .Chart.AppVersion -}}{{- end -}}
{{- printf "%s:%s" .Values.image.repository (required "image.tag is required" $tag) -}}
{{- end -}}

{{- define "ciap.configMapName" -}}
{{- .Values.existingConfigMap | default (printf "%s-config" (include "ciap.fullname" .)) -}}
{{- end -}}

{{- define "ciap.tlsSecretName" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "ciap.fullname" .)) -}}
{{- end -}}

{{/*
The config file: .Values.config with admin.address defaulting to 0.0.0.0:<admin.port>, so that
the kubelet's probes and Prometheus reach the admin listener on the pod IP. No tpl: the config is
checked against config/ciap.schema.json as written; per-release values go in through ${ENV}
(values `env`, e.g. from fieldRef metadata.namespace).
*/}}
{{- define "ciap.config" -}}
{{- $config := deepCopy (.Values.config | default dict) -}}
{{- $admin := get $config "admin" | default dict -}}
{{- if not (hasKey $admin "address") -}}
{{- $_ := set $admin "address" (printf "0.0.0.0:%v" .Values.admin.port) -}}
{{- end -}}
{{- $_ := set $config "admin" $admin -}}
{{- toYaml $config -}}
{{- end -}}

{{/* Whether the config has a TLS listener, which needs certificates mounted. */}}
{{- define "ciap.needsTls" -}}
{{- if not .Values.existingConfigMap -}}
{{- range (.Values.config.listeners | default list) -}}
{{- if hasKey . "tls" }}true{{ end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ciap.tlsMounted" -}}
{{- if or .Values.tls.secretName .Values.tls.certManager.enabled }}true{{ end -}}
{{- end -}}

{{/* The ciap container, the same in a gateway pod and next to an agent. */}}
{{- define "ciap.container" -}}
{{- if and (include "ciap.needsTls" .) (not (include "ciap.tlsMounted" .)) -}}
{{- fail "config has a TLS listener: set tls.secretName (a kubernetes.io/tls Secret) or tls.certManager.enabled" -}}
{{- end -}}
name: {{ .Values.containerName }}
image: {{ include "ciap.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
args:
  - run
  - -c
  - {{ printf "%s/ciap.yaml" .Values.configMountPath }}
  {{- if .Values.concurrency }}
  - --concurrency
  - {{ .Values.concurrency | quote }}
  {{- end }}
  {{- if .Values.drainTimeout }}
  - --drain-timeout
  - {{ .Values.drainTimeout | quote }}
  {{- end }}
{{- with .Values.env }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
ports:
  {{- range .Values.service.ports }}
  - name: {{ .name }}
    containerPort: {{ .targetPort }}
    protocol: TCP
  {{- end }}
  - name: admin
    containerPort: {{ .Values.admin.port }}
    protocol: TCP
livenessProbe:
  httpGet:
    path: /healthz
    port: admin
  {{- toYaml .Values.livenessProbe | nindent 2 }}
readinessProbe:
  httpGet:
    path: /ready
    port: admin
  {{- toYaml .Values.readinessProbe | nindent 2 }}
{{- with (eq .Values.mode "sidecar" | ternary .Values.sidecar.startupProbe .Values.startupProbe) }}
# Started = listeners bound and every provider has keys. A native sidecar holds the job's
# containers until then, so that the job's first call is not answered 503 keys_unavailable.
startupProbe:
  httpGet:
    path: /ready
    port: admin
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
resources:
  {{- toYaml .Values.resources | nindent 2 }}
volumeMounts:
  - name: ciap-config
    mountPath: {{ .Values.configMountPath }}
    readOnly: true
  {{- if include "ciap.tlsMounted" . }}
  - name: ciap-tls
    mountPath: {{ .Values.tls.mountPath }}
    readOnly: true
  {{- end }}
  {{- range .Values.secretMounts }}
  - name: {{ .name }}
    mountPath: {{ .mountPath }}
    readOnly: true
  {{- end }}
  {{- with .Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
The pod volumes the container mounts. Whole-directory mounts (no subPath), so that Kubernetes'
atomic symlink swap of an updated ConfigMap or Secret reaches ciap, which re-reads its config,
certificates, JWKS files and ${secret:} files when they change.
*/}}
{{- define "ciap.volumes" -}}
- name: ciap-config
  configMap:
    name: {{ include "ciap.configMapName" . }}
{{- if include "ciap.tlsMounted" . }}
- name: ciap-tls
  secret:
    secretName: {{ include "ciap.tlsSecretName" . }}
{{- end }}
{{- range .Values.secretMounts }}
- name: {{ .name }}
  secret:
    secretName: {{ .secretName }}
    {{- with .items }}
    items:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
ciap.sidecar: the ciap container for an agent pod. With sidecar.native (Kubernetes >= 1.29) it
carries restartPolicy: Always and belongs in initContainers: it starts before the job's
containers and does not keep a finished job pod alive. Otherwise put it in containers.
*/}}
{{- define "ciap.sidecar" -}}
{{ include "ciap.container" . }}
{{- if .Values.sidecar.native }}
restartPolicy: Always
{{- end }}
{{- end -}}

{{- define "ciap.sidecar.volumes" -}}
{{ include "ciap.volumes" . }}
{{- end -}}

{{/*
A PodSpec patch that adds the sidecar and its volumes, in the shape of Buildkite
agent-stack-k8s' config.pod-spec-patch (a strategic merge patch of each job's PodSpec).
*/}}
{{- define "ciap.sidecar.podSpecPatch" -}}
{{ if .Values.sidecar.native }}initContainers{{ else }}containers{{ end }}:
  - {{- include "ciap.sidecar" . | nindent 4 }}
volumes:
  {{- include "ciap.sidecar.volumes" . | nindent 2 }}
{{- end -}}

{{/* Pod annotations: Prometheus scraping and, optionally, a restart on config change. */}}
{{- define "ciap.podAnnotations" -}}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.admin.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- if and .Values.rollOnConfigChange (not .Values.existingConfigMap) }}
checksum/config: {{ include "ciap.config" . | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ciap.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "ciap.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}
