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

{{/*
No ciap image is published: the repository's Dockerfile builds it, and image.repository names
the registry it was pushed to. Rendering fails without one rather than pull a name that exists
nowhere (or, worse, someone else's image of that name).
*/}}
{{- define "ciap.image" -}}
{{- $repository := required "image.repository is required: no ciap image is published; build one from the Dockerfile at the root of the ciap repository (docker build -t REGISTRY/ciap:TAG .), push it to a registry your cluster pulls from, and set image.repository (and image.tag)" .Values.image.repository -}}
{{- $tag := .Values.image.tag -}}
{{- if and (not $tag) .Chart -}}{{- $tag = .Chart.AppVersion -}}{{- end -}}
{{- printf "%s:%s" $repository (required "image.tag is required" $tag) -}}
{{- end -}}

{{- define "ciap.configMapName" -}}
{{- .Values.existingConfigMap | default (printf "%s-config" (include "ciap.fullname" .)) -}}
{{- end -}}

{{- define "ciap.tlsSecretName" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "ciap.fullname" .)) -}}
{{- end -}}

{{/*
The config file: .Values.config with admin.address defaulting to the address ciap.admin works
out (0.0.0.0:<admin.port> in gateway mode, 127.0.0.1:<admin.port> in sidecar mode). No tpl: the
config is checked against config/ciap.schema.json as written; per-release values go in through
${ENV} (values `env`, e.g. from fieldRef metadata.namespace).
*/}}
{{- define "ciap.config" -}}
{{- $config := deepCopy (.Values.config | default dict) -}}
{{- $admin := get $config "admin" | default dict -}}
{{- if not (hasKey $admin "address") -}}
{{- $_ := set $admin "address" (include "ciap.admin" . | fromJson).address -}}
{{- end -}}
{{- $_ := set $config "admin" $admin -}}
{{- toYaml $config -}}
{{- end -}}

{{/*
ciap.parseAddress (list WHAT ADDRESS): a listen address host:port as JSON
{"host", "port", "loopback"}. Fails, naming WHAT, when the port cannot be read: the chart
declares container and Service ports from it, so an address behind ${VAR} is refused here.
*/}}
{{- define "ciap.parseAddress" -}}
{{- $what := index . 0 -}}
{{- $address := toString (index . 1) -}}
{{- if not (regexMatch "^(\\[[0-9A-Fa-f:.]+\\]|[0-9.]+|localhost):[0-9]{1,5}$" $address) -}}
{{- fail (printf "%s: the chart reads the port of %q to declare the container and Service ports, and needs a literal host:port (an IP address or localhost; no ${VAR})" $what $address) -}}
{{- end -}}
{{- $port := regexFind "[0-9]+$" $address | atoi -}}
{{- if or (lt $port 1) (gt $port 65535) -}}
{{- fail (printf "%s: %q: in a pod, a listener needs a fixed port 1-65535 (the probes, Service and NetworkPolicy name it)" $what $address) -}}
{{- end -}}
{{- $host := regexFind "^.*:" $address | trimSuffix ":" | trimPrefix "[" | trimSuffix "]" -}}
{{- $loopback := or (hasPrefix "127." $host) (eq $host "localhost") (eq $host "::1") -}}
{{- toJson (dict "host" $host "port" $port "loopback" $loopback) -}}
{{- end -}}

{{/*
ciap.admin: where the admin listener binds, as JSON {"address", "host", "port", "loopback"}.
From config.admin.address when the config sets one (its port must be admin.port); otherwise
admin.bindAddress, or by default 0.0.0.0 for a gateway (the kubelet's probes and Prometheus come
to the pod IP) and 127.0.0.1 for a sidecar (an agent pod's neighbours have no business with
/config or /metrics). With existingConfigMap the chart cannot read the config, and trusts
admin.bindAddress and admin.port to describe it.
*/}}
{{- define "ciap.admin" -}}
{{- $port := int .Values.admin.port -}}
{{- $host := .Values.admin.bindAddress | default (eq .Values.mode "sidecar" | ternary "127.0.0.1" "0.0.0.0") -}}
{{- $address := printf "%s:%d" (contains ":" $host | ternary (printf "[%s]" $host) $host) $port -}}
{{- $configAdmin := dict -}}
{{- if not .Values.existingConfigMap -}}
{{- $configAdmin = get (.Values.config | default dict) "admin" | default dict -}}
{{- end -}}
{{- if hasKey $configAdmin "address" -}}
{{- $parsed := include "ciap.parseAddress" (list "config.admin.address" $configAdmin.address) | fromJson -}}
{{- if ne (int $parsed.port) $port -}}
{{- fail (printf "config.admin.address %q listens on port %d but admin.port is %d: the probes, the admin port and Prometheus would miss it. Set admin.port to %d, or drop config.admin.address and let the chart write it" (toString $configAdmin.address) (int $parsed.port) $port (int $parsed.port)) -}}
{{- end -}}
{{- if and .Values.admin.bindAddress (ne $parsed.host .Values.admin.bindAddress) -}}
{{- fail (printf "config.admin.address %q and admin.bindAddress %q disagree: set one of them" (toString $configAdmin.address) .Values.admin.bindAddress) -}}
{{- end -}}
{{- $host = $parsed.host -}}
{{- $address = toString $configAdmin.address -}}
{{- end -}}
{{- $loopback := or (hasPrefix "127." $host) (eq $host "localhost") (eq $host "::1") -}}
{{- toJson (dict "address" $address "host" $host "port" $port "loopback" $loopback) -}}
{{- end -}}

{{/*
ciap.ports: the listener ports, as JSON {"items": [{"name", "containerPort", "port", "nodePort",
"listener"}]}: one per listener the pod IP reaches, each with its container port (the port of
the listener's address) and its Service port. service.ports entries pick a listener by name
(listener:) or by port (targetPort:), and give it another Service port, port name or nodePort;
listeners without an entry get one named after the listener, with the Service port equal to the
listener's. Rendering fails when an entry reaches no listener, so that a Service never sends
agents to a port nothing listens on. Loopback listeners (a sidecar's) get no port at all.
With existingConfigMap the listeners are unknown: the entries are taken as written and need a
name and a targetPort.
*/}}
{{- define "ciap.ports" -}}
{{- $items := list -}}
{{- $entries := .Values.service.ports | default list -}}
{{- if .Values.existingConfigMap -}}
{{- range $i, $e := $entries -}}
{{- if not (and $e.name $e.targetPort) -}}
{{- fail (printf "service.ports[%d]: with existingConfigMap the chart cannot read the listeners: give each entry a name and a targetPort (the port of the listener's address)" $i) -}}
{{- end -}}
{{- $items = append $items (dict "name" $e.name "containerPort" (int $e.targetPort) "port" (int ($e.port | default $e.targetPort)) "nodePort" (int ($e.nodePort | default 0)) "listener" "") -}}
{{- end -}}
{{- else -}}
{{- $listeners := list -}}
{{- $names := list -}}
{{- range $i, $l := (.Values.config.listeners | default list) -}}
{{- $a := include "ciap.parseAddress" (list (printf "config.listeners[%d] (%s).address" $i $l.name) $l.address) | fromJson -}}
{{- $listeners = append $listeners (dict "name" $l.name "port" (int $a.port) "loopback" $a.loopback "address" (toString $l.address)) -}}
{{- $names = append $names (printf "%s on %s" $l.name (toString $l.address)) -}}
{{- end -}}
{{- $covered := dict -}}
{{- range $i, $e := $entries -}}
{{- $found := dict -}}
{{- range $listeners -}}
{{- if $e.listener -}}
{{- if eq .name $e.listener -}}{{- $found = . -}}{{- end -}}
{{- else if eq .port (int $e.targetPort) -}}
{{- $found = . -}}
{{- end -}}
{{- end -}}
{{- $what := printf "service.ports[%d]" $i -}}
{{- if $e.name -}}{{- $what = printf "%s (%s)" $what $e.name -}}{{- end -}}
{{- if not $found -}}
{{- if $e.listener -}}
{{- fail (printf "%s names listener %q, which config.listeners does not have (%s)" $what $e.listener (join ", " $names)) -}}
{{- else -}}
{{- fail (printf "%s targets port %d, but no listener in config binds it (%s): agents sent there would be refused. Name the listener instead ({ listener: NAME, port: %d }) or correct targetPort" $what (int $e.targetPort) (join ", " $names) (int ($e.port | default $e.targetPort))) -}}
{{- end -}}
{{- end -}}
{{- if and $e.listener $e.targetPort (ne (int $e.targetPort) $found.port) -}}
{{- fail (printf "%s: listener %q listens on port %d, not targetPort %d (drop targetPort: the listener's port is used)" $what $e.listener $found.port (int $e.targetPort)) -}}
{{- end -}}
{{- if $found.loopback -}}
{{- fail (printf "%s: listener %q binds %s, a loopback address no Service or other pod can reach (bind 0.0.0.0 for a gateway)" $what $found.name $found.address) -}}
{{- end -}}
{{- if hasKey $covered $found.name -}}
{{- fail (printf "%s: listener %q already has an entry in service.ports" $what $found.name) -}}
{{- end -}}
{{- $_ := set $covered $found.name true -}}
{{- $items = append $items (dict "name" ($e.name | default $found.name) "containerPort" $found.port "port" (int ($e.port | default $found.port)) "nodePort" (int ($e.nodePort | default 0)) "listener" $found.name) -}}
{{- end -}}
{{- range $listeners -}}
{{- if not (or .loopback (hasKey $covered .name)) -}}
{{- $items = append $items (dict "name" .name "containerPort" .port "port" .port "nodePort" 0 "listener" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $items -}}
{{- $name := toString .name -}}
{{- if not (and (regexMatch "^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$" $name) (regexMatch "[a-z]" $name) (not (contains "--" $name))) -}}
{{- fail (printf "listener %q: %q is not a valid port name (at most 15 lower-case letters, digits and single '-', with a letter): name its port in service.ports, e.g. { listener: %s, name: https }" .listener $name .listener) -}}
{{- end -}}
{{- if or (eq $name "admin") (hasKey $seen $name) -}}
{{- fail (printf "port name %q is used twice (admin is the admin port's): name the port of listener %q in service.ports, e.g. { listener: %s, name: https }" $name .listener .listener) -}}
{{- end -}}
{{- $_ := set $seen $name true -}}
{{- end -}}
{{- if and (eq .Values.mode "gateway") (not $items) -}}
{{- if .Values.existingConfigMap -}}
{{- fail "service.ports is empty: with existingConfigMap the chart cannot read the listeners; list them as { name, port, targetPort }" -}}
{{- else -}}
{{- fail "no listener in config is reachable from the Service: every one binds a loopback address (bind 0.0.0.0:PORT in gateway mode)" -}}
{{- end -}}
{{- end -}}
{{- toJson (dict "items" $items) -}}
{{- end -}}

{{/*
ciap.duration (list WHAT TEXT): a duration such as 500ms, 30s, 5m, 1h (also 1m30s, 1.5m, 1d) in
seconds. Fails naming WHAT on anything else.
*/}}
{{- define "ciap.durationSeconds" -}}
{{- $what := index . 0 -}}
{{- $text := toString (index . 1) -}}
{{- if not (regexMatch "^(0|([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+)$" $text) -}}
{{- fail (printf "%s: %q is not a duration (500ms, 5s, 1m)" $what $text) -}}
{{- end -}}
{{- $factor := dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 "d" 86400.0 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)" $text -1 -}}
{{- $unit := regexFind "(ms|s|m|h|d)$" . -}}
{{- $total = addf $total (mulf (trimSuffix $unit . | float64) (get $factor $unit)) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* --shutdown-delay: sidecar.shutdownDelay for a sidecar, shutdownDelay for a gateway. */}}
{{- define "ciap.shutdownDelay" -}}
{{- eq .Values.mode "sidecar" | ternary .Values.sidecar.shutdownDelay .Values.shutdownDelay | default "" -}}
{{- end -}}

{{/*
The least terminationGracePeriodSeconds that lets a pod stop cleanly: a preStop sleep (if
lifecycle has one), then --shutdown-delay (still accepting, /ready 503), then --drain-timeout
(ciap's own default, 30s, when drainTimeout is empty), then 10 s for the process to close what
is left and exit. The kubelet counts all of it against the grace period, and kills at its end.
*/}}
{{- define "ciap.minimumGracePeriodSeconds" -}}
{{- $delay := include "ciap.durationSeconds" (list "shutdownDelay" (include "ciap.shutdownDelay" . | default "0s")) | float64 -}}
{{- $drain := include "ciap.durationSeconds" (list "drainTimeout" (.Values.drainTimeout | default "30s")) | float64 -}}
{{- $sleep := dig "preStop" "sleep" "seconds" 0 (.Values.lifecycle | default dict) | float64 -}}
{{- add (addf $sleep $delay $drain | ceil | int) 10 -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: the minimum above, or the value when set; a value below the
minimum fails rendering (the kubelet would kill ciap while requests are still draining).
*/}}
{{- define "ciap.terminationGracePeriodSeconds" -}}
{{- $minimum := include "ciap.minimumGracePeriodSeconds" . | atoi -}}
{{- with .Values.terminationGracePeriodSeconds -}}
{{- if lt (int .) $minimum -}}
{{- fail (printf "terminationGracePeriodSeconds %d is shorter than the %d seconds a clean stop can take (preStop sleep + shutdownDelay + drainTimeout + 10): raise it, or leave it empty to get %d" (int .) $minimum $minimum) -}}
{{- end -}}
{{- int . -}}
{{- else -}}
{{- $minimum -}}
{{- end -}}
{{- end -}}

{{/*
ciap.probeHandler (list CONTEXT PATH): GET PATH on the admin listener. The kubelet probes the pod
IP, so an admin listener on a loopback address is probed from inside the container instead:
bash's /dev/tcp sends the request and checks for status 200 (builtins only, so the image needs
/bin/bash and nothing else; the image the repository's Dockerfile builds has it).
*/}}
{{- define "ciap.probeHandler" -}}
{{- $admin := include "ciap.admin" (index . 0) | fromJson -}}
{{- $path := index . 1 -}}
{{- if $admin.loopback -}}
exec:
  command:
    - /bin/bash
    - -c
    - {{ printf `exec 3<>/dev/tcp/%s/%d && printf 'GET %s HTTP/1.0\r\n\r\n' >&3 && read -r _ code _ <&3 && [ "$code" = 200 ]` $admin.host (int $admin.port) $path | quote }}
{{- else -}}
httpGet:
  path: {{ $path }}
  port: admin
{{- end -}}
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
{{- $admin := include "ciap.admin" . | fromJson -}}
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
  {{- /* A zero delay is ciap's default: no flag, so that an image older than the flag runs too. */}}
  {{- $delay := include "ciap.shutdownDelay" . }}
  {{- if and $delay (ne (include "ciap.durationSeconds" (list "shutdownDelay" $delay)) "0") }}
  - --shutdown-delay
  - {{ $delay | quote }}
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
{{- $ports := (include "ciap.ports" . | fromJson).items }}
{{- if or $ports (not $admin.loopback) }}
# The listeners the pod IP reaches and, unless it binds loopback, the admin listener.
ports:
  {{- range $ports }}
  - name: {{ .name }}
    containerPort: {{ int .containerPort }}
    protocol: TCP
  {{- end }}
  {{- if not $admin.loopback }}
  - name: admin
    containerPort: {{ int $admin.port }}
    protocol: TCP
  {{- end }}
{{- end }}
{{- with .Values.lifecycle }}
lifecycle:
  {{- toYaml . | nindent 2 }}
{{- end }}
livenessProbe:
  {{- include "ciap.probeHandler" (list . "/healthz") | nindent 2 }}
  {{- toYaml .Values.livenessProbe | nindent 2 }}
readinessProbe:
  {{- include "ciap.probeHandler" (list . "/ready") | nindent 2 }}
  {{- toYaml .Values.readinessProbe | nindent 2 }}
{{- with (eq .Values.mode "sidecar" | ternary .Values.sidecar.startupProbe .Values.startupProbe) }}
# Started = listeners bound and every provider has keys. A native sidecar holds the job's
# containers until then, so that the job's first call is not answered 503 keys_unavailable.
startupProbe:
  {{- include "ciap.probeHandler" (list $ "/ready") | nindent 2 }}
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
{{- if and .Values.metrics.podAnnotations (not (include "ciap.admin" . | fromJson).loopback) }}
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
