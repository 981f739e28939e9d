#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy (no binary downloads) and caches them by version,
# then prints the folder that holds them: the value for KUBEBUILDER_ASSETS (controller-runtime's envtest).
#
#   export KUBEBUILDER_ASSETS="$(test/k8s/build.sh)"
#   test/k8s/build.sh --kubectl     # also kubectl (same module and cache), for a person without one
#
# Each binary builds from its own small module beside this script (apiserver/, etcd/), never from the
# project's go.mod: k8s.io/kubernetes can only be required with every k8s.io staging module replaced by its
# release. A cold build takes about 11 minutes and ~3 GB of Go build cache on 2 cores, so it runs at the
# lowest CPU priority; with the cache in place the script returns at once. Concurrent runs wait on a lock.
#
# Environment: SRIOVCTL_K8S_CACHE (default /var/cache/sriovctl-k8s, or ~/.cache/sriovctl-k8s when that is
# not writable). Progress goes to stderr; stdout carries only the folder.
set -euo pipefail

# The body is a function so that bash parses it whole before running it: editing this file while a
# build runs cannot change what that build does.
main() {
want_kubectl=
case "${1:-}" in
  "") ;;
  --kubectl) want_kubectl=1 ;;
  *) echo "usage: build.sh [--kubectl]" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
k8s_version="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$here/apiserver/go.mod")"
etcd_version="$(awk '$1 == "require" && $2 == "go.etcd.io/etcd/server/v3" {print $3}' "$here/etcd/go.mod")"
[[ -n "$k8s_version" && -n "$etcd_version" ]] || { echo "build.sh: cannot read the pinned versions" >&2; exit 1; }

cache="${SRIOVCTL_K8S_CACHE:-}"
if [[ -z "$cache" ]]; then
  cache=/var/cache/sriovctl-k8s
  if ! mkdir -p "$cache" 2>/dev/null || [[ ! -w "$cache" ]]; then cache="${XDG_CACHE_HOME:-$HOME/.cache}/sriovctl-k8s"; fi
fi
dir="$cache/kube-apiserver-$k8s_version-etcd-$etcd_version"

ready() { [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" && ( -z "$want_kubectl" || -x "$dir/kubectl" ) ]]; }
if ready; then echo "$dir"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if ready; then echo "$dir"; exit 0; fi # another run built it while we waited

tmp="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"

minor="${k8s_version#v*.}"; minor="${minor%%.*}"; major="${k8s_version#v}"; major="${major%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor"
start=$SECONDS
if [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" ]]; then
  cp -p "$dir/kube-apiserver" "$dir/etcd" "$tmp/" # only kubectl is missing
else
  echo "build.sh: building etcd $etcd_version (about a minute cold)" >&2
  (cd "$here/etcd" && nice -n 19 go build -trimpath -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
  echo "build.sh: building kube-apiserver $k8s_version (about 11 minutes cold, 20 s with a warm Go build cache)" >&2
  (cd "$here/apiserver" && nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
fi
if [[ -n "$want_kubectl" ]]; then
  echo "build.sh: building kubectl $k8s_version" >&2
  (cd "$here/apiserver" && nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl)
  "$tmp/kubectl" version --client >/dev/null
elif [[ -x "$dir/kubectl" ]]; then
  cp -p "$dir/kubectl" "$tmp/"
fi
"$tmp/etcd" --version >/dev/null
"$tmp/kube-apiserver" --version >/dev/null
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "build.sh: built in $((SECONDS - start)) s into $dir" >&2
echo "$dir"
}
main "$@"
