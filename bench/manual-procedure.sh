#!/usr/bin/env bash
# The upgrade guide's manual canary migration, as an operator scripts it with kubectl:
# namespace by namespace, relabel to the new revision, restart every Deployment, then wait for
# each Deployment's rollout in turn. Usage: manual-procedure.sh <to-revision> <namespace>...
# KUBECONFIG selects the cluster. Prints "namespace <name> <milliseconds>" per namespace.
set -euo pipefail
to="$1"
shift
for ns in "$@"; do
  start=$(date +%s%N)
  kubectl label namespace "$ns" istio-injection- "istio.io/rev=$to" --overwrite >/dev/null
  kubectl rollout restart deployment -n "$ns" >/dev/null
  for deployment in $(kubectl get deployment -n "$ns" -o name); do
    kubectl rollout status "$deployment" -n "$ns" --timeout=10m >/dev/null
  done
  echo "namespace $ns $(( ($(date +%s%N) - start) / 1000000 ))"
done
