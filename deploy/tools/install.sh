#!/usr/bin/env bash
# Installs the deployment validators into DEST (idempotent; `make deploy-tools` calls it):
#   DEST/venv      check-jsonschema, kubernetes-validate, ansible-core, ansible-lint, moto
#   DEST/bin       kubeconform and kustomize, built from their Go modules
#   DEST/schemas   JSON schemas for kubeconform, offline: the Kubernetes API (from the
#                  kubernetes-validate package) and the CRDs the manifests use (KEDA's
#                  ScaledObject, prometheus-operator's ServiceMonitor and PrometheusRule,
#                  from the CRD files inside those Go modules)
set -euo pipefail
DEST=${1:?usage: install.sh DEST}
HERE=$(cd "$(dirname "$0")" && pwd)
KUBECONFORM=v0.7.0
KUSTOMIZE=v5.8.0
KEDA=v2.20.0
PROMETHEUS_OPERATOR=v0.85.0
K8S_VERSION=1.37.0
PYTHON=${PYTHON:-python3}

stamp="$DEST/.installed-$(cat "$HERE/requirements.txt" "$HERE/install.sh" "$HERE/schemas.py" | cksum | cut -d' ' -f1)"
if [[ -f $stamp ]]; then exit 0; fi
mkdir -p "$DEST/bin" "$DEST/schemas"
echo "installing the deployment validators into $DEST (once; a few minutes)" >&2

test -x "$DEST/venv/bin/python" || "$PYTHON" -m venv "$DEST/venv"
"$DEST/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$DEST/venv/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"

if command -v go >/dev/null; then
  GOBIN="$DEST/bin" GOFLAGS=-buildvcs=false go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM"
  GOBIN="$DEST/bin" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE"
  keda=$(go mod download -json "github.com/kedacore/keda/v2@$KEDA" | "$DEST/venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  promop=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR" | "$DEST/venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  "$DEST/venv/bin/python" "$HERE/schemas.py" crd "$DEST/schemas/crd" \
    "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" \
    "$keda/config/crd/bases/keda.sh_triggerauthentications.yaml" \
    "$promop/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    "$promop/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
else
  echo "go not found: kubeconform and kustomize are not installed (their tests skip)" >&2
fi
"$DEST/venv/bin/python" "$HERE/schemas.py" k8s "$DEST/schemas/k8s" "$K8S_VERSION"
rm -f "$DEST"/.installed-* && touch "$stamp"
