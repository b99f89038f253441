# Generates a kustomization tree of realistic size. Source it; do not run it.
#
#   gen_tree OUT OBJECTS [TEAMS]
#
# OUT/base/kustomization.yaml lists TEAMS (default: OBJECTS/200, at least 1) subdirectories
# team-NN/, each with its own kustomization.yaml and deployments.yaml, services.yaml and
# configmaps.yaml holding OBJECTS/TEAMS objects split evenly between Deployments, Services and
# ConfigMaps (each Deployment mounts its ConfigMap and is selected by its Service).
# OUT/overlay/ is a production overlay of the base: namespace, namePrefix, labels (into templates,
# not selectors), commonAnnotations, images, a strategic-merge patch with a label-selector target,
# a JSON 6902 patch with a name-regex target, a strategic-merge patch file for one Deployment and
# a configMapGenerator whose ConfigMap every Deployment references (envFrom), so the content-hash
# name is rewritten into every Deployment. `kubectl kustomize OUT/overlay` renders
# OBJECTS + 1 objects.

_gen_deployment() {
  # $1 name, $2 team
  printf '%s\n' "---" \
    "apiVersion: apps/v1" \
    "kind: Deployment" \
    "metadata:" \
    "  name: $1" \
    "  labels:" \
    "    app.kubernetes.io/name: $1" \
    "    app.kubernetes.io/part-of: $2" \
    "spec:" \
    "  replicas: 2" \
    "  selector:" \
    "    matchLabels:" \
    "      app.kubernetes.io/name: $1" \
    "  template:" \
    "    metadata:" \
    "      labels:" \
    "        app.kubernetes.io/name: $1" \
    "      annotations:" \
    "        prometheus.io/scrape: \"true\"" \
    "    spec:" \
    "      containers:" \
    "        - name: app" \
    "          image: ghcr.io/example/app:1.0.0" \
    "          args: [\"--port=8080\", \"--log-level=info\"]" \
    "          ports:" \
    "            - name: http" \
    "              containerPort: 8080" \
    "          env:" \
    "            - name: TEAM" \
    "              value: $2" \
    "          envFrom:" \
    "            - configMapRef:" \
    "                name: settings" \
    "          volumeMounts:" \
    "            - name: config" \
    "              mountPath: /etc/app" \
    "          resources:" \
    "            requests:" \
    "              cpu: 50m" \
    "              memory: 64Mi" \
    "            limits:" \
    "              memory: 128Mi" \
    "          readinessProbe:" \
    "            httpGet:" \
    "              path: /readyz" \
    "              port: http" \
    "      volumes:" \
    "        - name: config" \
    "          configMap:" \
    "            name: $1"
}

_gen_service() {
  printf '%s\n' "---" \
    "apiVersion: v1" \
    "kind: Service" \
    "metadata:" \
    "  name: $1" \
    "  labels:" \
    "    app.kubernetes.io/name: $1" \
    "    app.kubernetes.io/part-of: $2" \
    "spec:" \
    "  selector:" \
    "    app.kubernetes.io/name: $1" \
    "  ports:" \
    "    - name: http" \
    "      port: 80" \
    "      targetPort: http"
}

_gen_configmap() {
  printf '%s\n' "---" \
    "apiVersion: v1" \
    "kind: ConfigMap" \
    "metadata:" \
    "  name: $1" \
    "  labels:" \
    "    app.kubernetes.io/part-of: $2" \
    "data:" \
    "  app.yaml: |" \
    "    listen: :8080" \
    "    upstream: http://$1-backend:9090" \
    "    timeout: 5s" \
    "  FEATURE_FLAGS: \"search,checkout\""
}

gen_tree() {
  local out="$1" objects="$2" teams="${3:-$(($2 / 200))}"
  ((teams >= 1)) || teams=1
  local per_team=$((objects / teams)) t i name team
  mkdir -p "$out/base" "$out/overlay"
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    for ((t = 0; t < teams; t++)); do printf '  - team-%02d\n' "$t"; done
  } >"$out/base/kustomization.yaml"
  for ((t = 0; t < teams; t++)); do
    team="$(printf 'team-%02d' "$t")"
    mkdir -p "$out/base/$team"
    printf '%s\n' "resources:" "  - deployments.yaml" "  - services.yaml" "  - configmaps.yaml" \
      >"$out/base/$team/kustomization.yaml"
    # Objects of this team: the remainder of the division goes to the last team.
    local count=$per_team
    ((t == teams - 1)) && count=$((objects - per_team * (teams - 1)))
    local nd=$(((count + 2) / 3)) ns=$(((count + 1) / 3)) nc=$((count / 3))
    {
      for ((i = 0; i < nd; i++)); do _gen_deployment "$(printf 'app-%02d-%04d' "$t" "$i")" "$team"; done
    } >"$out/base/$team/deployments.yaml"
    {
      for ((i = 0; i < ns; i++)); do _gen_service "$(printf 'app-%02d-%04d' "$t" "$i")" "$team"; done
    } >"$out/base/$team/services.yaml"
    {
      for ((i = 0; i < nc; i++)); do _gen_configmap "$(printf 'app-%02d-%04d' "$t" "$i")" "$team"; done
    } >"$out/base/$team/configmaps.yaml"
  done
  printf '%s\n' \
    "apiVersion: kustomize.config.k8s.io/v1beta1" \
    "kind: Kustomization" \
    "namespace: prod" \
    "namePrefix: prod-" \
    "resources:" \
    "  - ../base" \
    "labels:" \
    "  - pairs:" \
    "      env: production" \
    "    includeSelectors: false" \
    "    includeTemplates: true" \
    "commonAnnotations:" \
    "  owner: platform-team" \
    "images:" \
    "  - name: ghcr.io/example/app" \
    "    newTag: 1.4.2" \
    "patches:" \
    "  - path: app-00-0000-resources.yaml" \
    "  - target:" \
    "      kind: Deployment" \
    "      labelSelector: app.kubernetes.io/part-of=team-00" \
    "    patch: |-" \
    "      apiVersion: apps/v1" \
    "      kind: Deployment" \
    "      metadata:" \
    "        name: any" \
    "      spec:" \
    "        replicas: 3" \
    "        template:" \
    "          spec:" \
    "            containers:" \
    "              - name: app" \
    "                env:" \
    "                  - name: TIER" \
    "                    value: frontend" \
    "  - target:" \
    "      kind: Service" \
    "      name: app-00-.*" \
    "    patch: |-" \
    "      - op: add" \
    "        path: /spec/sessionAffinity" \
    "        value: ClientIP" \
    "configMapGenerator:" \
    "  - name: settings" \
    "    literals:" \
    "      - REGION=eu-west-1" \
    "      - LOG_FORMAT=json" \
    >"$out/overlay/kustomization.yaml"
  printf '%s\n' \
    "apiVersion: apps/v1" \
    "kind: Deployment" \
    "metadata:" \
    "  name: app-00-0000" \
    "spec:" \
    "  template:" \
    "    spec:" \
    "      containers:" \
    "        - name: app" \
    "          resources:" \
    "            limits:" \
    "              cpu: \"1\"" \
    "              memory: 256Mi" \
    >"$out/overlay/app-00-0000-resources.yaml"
}
