#!/usr/bin/env bash
# Builds the pinned local-cluster binaries from the Go module proxy into
#   $CACHE/bin/<name>-<version>/<name>
# Each group is skipped when all of its binaries are already cached.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${GAMEFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gamefleet}"
bindir="$cache/bin"
work="$cache/build"
mkdir -p "$bindir" "$work"
# One build at a time per cache: checkouts sharing it would remove each other's work dirs.
exec 9>"$cache/build.lock"
flock 9

export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false -mod=mod" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
ldflags_base="-s -w"

have() { # have <version> <name>...
  local v="$1"; shift
  for n in "$@"; do [[ -x "$bindir/$n-$v/$n" ]] || return 1; done
}

install_from() { # install_from <outdir> <version> <name>...
  local out="$1" v="$2"; shift 2
  for n in "$@"; do
    mkdir -p "$bindir/$n-$v"
    mv -f "$out/$n" "$bindir/$n-$v/$n.tmp"
    mv -f "$bindir/$n-$v/$n.tmp" "$bindir/$n-$v/$n"
  done
}

# A throwaway module that requires the upstream module, so upstream's own
# replace directives do not apply and we choose them ourselves.
new_module() { # new_module <dir> <import>...
  local dir="$1"; shift
  rm -rf "$dir" && mkdir -p "$dir"
  printf 'module gamefleet.local/%s\n\ngo 1.26\n' "$(basename "$dir")" >"$dir/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for p in "$@"; do printf '\t_ "%s"\n' "$p"; done
    printf ')\n'
  } >"$dir/tools.go"
}

build_etcd() {
  have "$ETCD_VERSION" etcd && return 0
  echo "building etcd $ETCD_VERSION" >&2
  local dir="$work/etcd-$ETCD_VERSION"
  new_module "$dir" go.etcd.io/etcd/server/v3
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go mod tidy \
    && go build -ldflags "$ldflags_base" -o out/etcd go.etcd.io/etcd/server/v3)
  install_from "$dir/out" "$ETCD_VERSION" etcd
}

build_kubernetes() {
  local v="$KUBERNETES_VERSION" names=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  have "$v" "${names[@]}" && return 0
  echo "building kubernetes $v" >&2
  local dir="$work/kubernetes-$v" pkgs=() n
  for n in "${names[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
  new_module "$dir" "${pkgs[@]}"
  # k8s.io/kubernetes points every staging module at ./staging/src/...; as a
  # dependency those must map to the matching published v0.X.Y releases.
  local modfile staging
  modfile="$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
  staging="$(sed -n 's#^\s*\(k8s\.io/[^ ]*\) => \./staging/src/.*#\1#p' "$modfile")"
  [[ -n "$staging" ]] || { echo "no staging replaces found in $modfile" >&2; return 1; }
  (
    cd "$dir"
    echo "require k8s.io/kubernetes $v" >>go.mod
    for m in $staging; do echo "replace $m => $m $KUBERNETES_STAGING_VERSION" >>go.mod; done
    go mod tidy
    local minor="${v#v1.}"; minor="${minor%%.*}"
    local x="-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1"
    x+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    x+=" -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1"
    x+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    # One invocation so the shared packages compile once.
    mkdir -p out && go build -ldflags "$ldflags_base $x" -o out/ "${pkgs[@]}"
  )
  install_from "$dir/out" "$v" "${names[@]}"
}

build_kwok() {
  # The cache tag names the release and gamefleet's patches to it (versions.py: binary_dir).
  local v="$KWOK_VERSION" tag="$KWOK_VERSION+$KWOK_PATCH"
  have "$tag" kwok && [[ -f "$bindir/kwok-$tag/stages.yaml" && -f "$bindir/kwok-$tag/crds.yaml" ]] && return 0
  echo "building kwok $tag" >&2
  local dir="$work/kwok-$tag"
  new_module "$dir" sigs.k8s.io/kwok/cmd/kwok
  (
    cd "$dir"
    go get "sigs.k8s.io/kwok@$v"
    # The release's source with kwok-$KWOK_PATCH.patch applied, built in its place.
    cp -r "$(go mod download -json "sigs.k8s.io/kwok@$v" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')" src
    chmod -R u+w src
    patch -d src -p1 <"$here/kwok-$KWOK_PATCH.patch"
    echo "replace sigs.k8s.io/kwok => ./src" >>go.mod
    go mod tidy
    mkdir -p out && go build -ldflags "$ldflags_base -X sigs.k8s.io/kwok/pkg/consts.Version=$v" \
      -o out/ sigs.k8s.io/kwok/cmd/kwok
  )
  install_from "$dir/out" "$tag" kwok
  # kwokctl's default stages (node-fast, node-heartbeat-with-lease, pod-fast) from the same release.
  local src f
  src="$(go mod download -json "sigs.k8s.io/kwok@$v" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')/kustomize/stage"
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    printf -- '---\n'; cat "$src/$f.yaml"
  done >"$bindir/kwok-$tag/stages.yaml"
  # CRDs of the kubelet-like features kwok emulates (exec, logs, port-forward), enabled by `up`.
  for f in execs clusterexecs logs clusterlogs portforwards clusterportforwards; do
    printf -- '---\n'; cat "$src/../crd/bases/kwok.x-k8s.io_$f.yaml"
  done >"$bindir/kwok-$tag/crds.yaml"
}

build_helm() {
  local v="$HELM_VERSION"
  have "$v" helm && return 0
  echo "building helm $v" >&2
  local dir="$work/helm-$v"
  new_module "$dir" helm.sh/helm/v3/cmd/helm
  (
    cd "$dir"
    go get "helm.sh/helm/v3@$v" && go mod tidy
    local x="-X helm.sh/helm/v3/internal/version.version=$v"
    mkdir -p out && go build -ldflags "$ldflags_base $x" -o out/ helm.sh/helm/v3/cmd/helm
  )
  install_from "$dir/out" "$v" helm
}

# KEDA's operator (controllers, scalers) and its metrics adapter (external.metrics.k8s.io,
# which the HPA asks), plus the CRDs of the same release.
build_keda() {
  local v="$KEDA_VERSION" names=(keda-operator keda-adapter)
  have "$v" "${names[@]}" && [[ -f "$bindir/keda-operator-$v/crds.yaml" ]] && return 0
  echo "building keda $v" >&2
  local dir="$work/keda-$v" m=github.com/kedacore/keda/v2
  new_module "$dir" "$m/cmd/operator" "$m/cmd/adapter"
  local modfile src
  modfile="$(go mod download -json "$m@$v" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
  (
    cd "$dir"
    echo "require $m $v" >>go.mod
    # KEDA's own replace directives do not apply to a dependency: carry them over.
    sed -n 's#^replace \(.*=>.*\)$#replace \1#p' "$modfile" >>go.mod
    go mod tidy
    local x="-X $m/version.Version=$v -X $m/version.GitCommit=module-proxy"
    mkdir -p out
    # One invocation so the shared packages compile once.
    go build -ldflags "$ldflags_base $x" -o out/ "$m/cmd/operator" "$m/cmd/adapter"
    mv out/operator out/keda-operator && mv out/adapter out/keda-adapter
  )
  install_from "$dir/out" "$v" "${names[@]}"
  src="$(go mod download -json "$m@$v" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')/config/crd/bases"
  for f in "$src"/*.yaml; do printf -- '---\n'; cat "$f"; done >"$bindir/keda-operator-$v/crds.yaml"
}

# promtool only (no service discovery plugins: `promtool check metrics` and PromQL checks).
build_promtool() {
  local v="$PROMETHEUS_VERSION"
  have "$v" promtool && return 0
  echo "building promtool $v" >&2
  local dir="$work/prometheus-$v" m=github.com/prometheus/prometheus
  new_module "$dir" "$m/cmd/promtool"
  (
    cd "$dir"
    go get "$m@$v" && go mod tidy
    mkdir -p out && go build -tags remove_all_sd -ldflags "$ldflags_base" -o out/ "$m/cmd/promtool"
  )
  install_from "$dir/out" "$v" promtool
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(etcd kubernetes kwok helm promtool keda)
for t in "${targets[@]}"; do "build_$t"; done
echo "binaries in $bindir" >&2
