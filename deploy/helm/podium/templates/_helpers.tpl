{{/* Names, labels and the table of services every other template ranges over. */}}

{{- define "podium.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "podium.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "podium.labels" -}}
{{ include "podium.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The services: facts about the code, not settings. `values` names each one's block in values.yaml; `port` is its
HTTP port (health, readiness, metrics; PODIUM_<SERVICE>_HTTP_PORT's default); the flags say what it connects to.
*/}}
{{- define "podium.serviceTable" -}}
gateway:             {module: gateway,             values: gateway,            port: 8000, postgres: false, s3: false, competition: false}
auth-service:        {module: auth_service,        values: authService,        port: 8101, postgres: true,  s3: false, competition: false}
submission-service:  {module: submission_service,  values: submissionService,  port: 8102, postgres: true,  s3: true,  competition: true}
cpu-scorer:          {module: cpu_scorer,          values: cpuScorer,          port: 8103, postgres: false, s3: true,  competition: false}
gpu-scorer:          {module: gpu_scorer,          values: gpuScorer,          port: 8104, postgres: false, s3: true,  competition: false}
leaderboard-service: {module: leaderboard_service, values: leaderboardService, port: 8105, postgres: true,  s3: false, competition: false}
{{- end -}}

{{/* The services this release deploys (gpu-scorer only when enabled), as YAML: `include ... | fromYaml`. */}}
{{- define "podium.services" -}}
{{- $table := include "podium.serviceTable" . | fromYaml -}}
{{- if not .Values.gpuScorer.enabled -}}
{{- $_ := unset $table "gpu-scorer" -}}
{{- end -}}
{{- toYaml $table -}}
{{- end -}}

{{- define "podium.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.prefix .name (.root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{- /* The NATS users (files/nats-auth.conf): the admin and every service, gpu-scorer even when disabled. */ -}}
{{- define "podium.natsUsers" -}}
- admin
- gateway
- auth-service
- submission-service
- cpu-scorer
- gpu-scorer
- leaderboard-service
{{- end -}}

{{- define "podium.natsName" -}}{{ include "podium.fullname" . }}-nats{{- end -}}

{{- define "podium.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "podium.fullname" .)) -}}
{{- end -}}

{{- define "podium.competitionConfigMap" -}}
{{- .Values.competition.existingConfigMap | default (printf "%s-competition" (include "podium.fullname" .)) -}}
{{- end -}}

{{/* The inputs the chart cannot guess: one failure naming every one missing. */}}
{{- define "podium.validate" -}}
{{- $missing := list -}}
{{- if not (or .Values.competition.toml .Values.competition.existingConfigMap) -}}
{{- $missing = append $missing "competition.toml (--set-file competition.toml=deploy/competition.toml) or competition.existingConfigMap" -}}
{{- end -}}
{{- if and .Values.competition.toml .Values.competition.existingConfigMap -}}
{{- fail "set competition.toml or competition.existingConfigMap, not both" -}}
{{- end -}}
{{- if not .Values.s3.endpoint -}}
{{- $missing = append $missing "s3.endpoint" -}}
{{- end -}}
{{- if and .Values.secrets.create .Values.secrets.existingSecret -}}
{{- fail "set secrets.existingSecret or secrets.create, not both" -}}
{{- end -}}
{{- if .Values.secrets.create -}}
{{- range $key := list "postgresDsn" "s3AccessKey" "s3SecretKey" -}}
{{- if not (index $.Values.secrets $key) -}}
{{- $missing = append $missing (printf "secrets.%s (secrets.create is true)" $key) -}}
{{- end -}}
{{- end -}}
{{- range $user := include "podium.natsUsers" . | fromYamlArray -}}
{{- if not (index ($.Values.secrets.natsPasswords | default dict) $user) -}}
{{- $missing = append $missing (printf "secrets.natsPasswords.%s (secrets.create is true)" $user) -}}
{{- end -}}
{{- end -}}
{{- else if not .Values.secrets.existingSecret -}}
{{- $missing = append $missing "secrets.existingSecret (a Secret you manage; see values.yaml)" -}}
{{- end -}}
{{- if and .Values.programPool.enabled .Values.networkPolicy.enabled (not .Values.programPool.objectStorage.peers) -}}
{{- $missing = append $missing "programPool.objectStorage.peers (where object storage is, for the program pool's egress policy)" -}}
{{- end -}}
{{- if not (has .Values.programPool.isolation (list "bubblewrap" "rlimits-only")) -}}
{{- $missing = append $missing "programPool.isolation: bubblewrap or rlimits-only" -}}
{{- end -}}
{{- if gt (int .Values.nats.streamReplicas) (int .Values.nats.replicas) -}}
{{- $missing = append $missing "nats.streamReplicas at most nats.replicas" -}}
{{- end -}}
{{- if $missing -}}
{{- fail (printf "podium: set these values: %s" (join "; " $missing)) -}}
{{- end -}}
{{- end -}}
