#!/usr/bin/env bash
# Rolls an overlay out: `k8s/apply.sh standby|disaster|current [--image SERVICE=REF]... [--render]`.
#
# `kubectl apply -k k8s/overlays/<overlay>` alone would do two wrong things on a live suite:
# it would set the images back to the tag in git, and going back to standby it would leave
# the disaster overlay's autoscalers behind (apply does not delete), which would keep
# scaling the services up. This script is that command plus the two fixes:
#   - the images are the ones given with --image (the delivery pipeline passes the digests
#     it just pushed), else the ones the Deployments run now: changing the scale never
#     changes the version;
#   - autoscalers of the other overlays are deleted first.
# `current` is the overlay that runs now (the annotation spontan/overlay on the ConfigMap
# spontan-config): what the pipelines roll out on a push to main, so that a release during a
# disaster does not scale the suite down.
# --render prints the manifests instead of applying them. The namespace is the overlays'
# (`spontan`); kubectl's current context chooses the cluster.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NAMESPACE=spontan
SERVICES=(registration task matching web)

usage() { echo "usage: k8s/apply.sh standby|disaster|current [--image SERVICE=REF]... [--render]" >&2; exit 2; }
[ $# -ge 1 ] || usage
overlay=$1
shift
if [ "$overlay" = current ]; then
  overlay=$(kubectl -n "$NAMESPACE" get configmap spontan-config \
    -o jsonpath='{.metadata.annotations.spontan/overlay}' 2>/dev/null || true)
  [ -n "$overlay" ] || { echo "no overlay runs in namespace $NAMESPACE yet: name one" >&2; exit 1; }
  echo "current overlay: $overlay" >&2
fi
[ -f "$ROOT/k8s/overlays/$overlay/kustomization.yaml" ] || usage
declare -A image=()
render=false
while [ $# -gt 0 ]; do
  case $1 in
    --image) [ $# -ge 2 ] || usage; image[${2%%=*}]=${2#*=}; shift 2 ;;
    --render) render=true; shift ;;
    *) usage ;;
  esac
done

# Fills in the image of every service not given, from its running Deployment.
for service in "${SERVICES[@]}"; do
  [ -n "${image[$service]:-}" ] && continue
  if $render; then image[$service]="ghcr.io/spontan/$service:0.1.0"; continue; fi
  image[$service]=$(kubectl -n "$NAMESPACE" get deployment "spontan-$service" \
    -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null) ||
    { echo "spontan-$service does not run yet: pass --image $service=REF" >&2; exit 1; }
done

# A kustomization on top of the overlay that pins the images; kustomize wants it inside the
# tree and the overlay as a relative path.
release=$(mktemp -d "$ROOT/k8s/.apply.XXXXXX")
trap 'rm -rf "$release"' EXIT
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources: [../overlays/$overlay]"
  echo "images:"
  for service in "${SERVICES[@]}"; do
    ref=${image[$service]}
    if [[ $ref == *@sha256:* ]]; then
      echo "  - {name: ghcr.io/spontan/$service, newName: ${ref%@*}, digest: ${ref#*@}}"
    else
      echo "  - {name: ghcr.io/spontan/$service, newName: ${ref%:*}, newTag: \"${ref##*:}\"}"
    fi
  done
} >"$release/kustomization.yaml"

if $render; then
  kubectl kustomize "$release"
  exit 0
fi

# Autoscalers that other overlays have and this one does not.
names() { kubectl kustomize "$1" | awk '
  /^kind:/ { kind = $2 } /^  name:/ && (kind == "HorizontalPodAutoscaler" || kind == "ScaledObject") { print kind "/" $2 }' | sort -u; }
wanted=$(names "$release")
for other in "$ROOT"/k8s/overlays/*/; do
  for object in $(names "$other"); do
    if ! grep -qx "$object" <<<"$wanted"; then
      kind=${object%/*}
      [ "$kind" = ScaledObject ] && kind=scaledobjects.keda.sh
      [ "$kind" = HorizontalPodAutoscaler ] && kind=horizontalpodautoscalers.autoscaling
      # A cluster without KEDA has no ScaledObjects to delete.
      if ! kubectl -n "$NAMESPACE" delete "$kind/${object#*/}" --ignore-not-found 2>"$release/err"; then
        grep -q "doesn't have a resource type" "$release/err" || { cat "$release/err" >&2; exit 1; }
      fi
    fi
  done
done

kubectl apply -k "$release"
