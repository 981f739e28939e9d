#!/usr/bin/env bash
# Installs a built sriovctl .deb on this machine (root), checks what it installed, and removes it again:
# the installed binary runs and reports the package's version, every installed unit passes
# `systemd-analyze verify` (man pages included) with no warning, the man page and completions are where
# man and the shells look, and after `dpkg -P` none of the package's files is left.
# Usage: packaging/check-deb.sh build/sriovctl_VERSION_ARCH.deb
set -euo pipefail
deb=$1
pkg=sriovctl
fail() { echo "check-deb: $*" >&2; exit 1; }

if dpkg -s "$pkg" >/dev/null 2>&1; then
  fail "$pkg is already installed here; remove it first (dpkg -P $pkg)"
fi
version=$(dpkg-deb -f "$deb" Version)
dpkg -i "$deb"
trap 'dpkg -P "$pkg" >/dev/null 2>&1 || true' EXIT
files=$(dpkg -L "$pkg")

out=$(/usr/bin/sriovctl version)
echo "$out"
grep -qx "sriovctl $version" <<<"$out" || fail "installed sriovctl version does not say $version"
# sriovctl runs its Kubernetes companion for `fleet`: the installed pair must find each other.
/usr/bin/sriovctl fleet --help >/dev/null || fail "installed sriovctl cannot run sriovctl-kube for fleet"
[ -d /etc/sriovctl/policy.d ] || fail "/etc/sriovctl/policy.d missing"
[ -z "$(ls -A /etc/sriovctl/policy.d)" ] || fail "/etc/sriovctl/policy.d is not empty"
man -w sriovctl-restore >/dev/null || fail "man cannot find sriovctl-restore(1)"
[ -s /usr/share/bash-completion/completions/sriovctl ] || fail "no bash completion"
[ -s /usr/share/sriovctl/schemas/policy.schema.json ] || fail "no policy schema in /usr/share/sriovctl/schemas"

units=$(grep '^/usr/lib/systemd/system/.*\.service$' <<<"$files")
[ -n "$units" ] || fail "no systemd units installed"
for u in $units; do
  echo "== systemd-analyze verify $u"
  # Warnings come with exit 0: any output fails the check.
  if ! v=$(systemd-analyze verify "$u" 2>&1) || [ -n "$v" ]; then
    fail "systemd-analyze verify $u: $v"
  fi
done

# An admin enables the restore unit; removing the package must not leave the enablement symlink behind.
wants=/etc/systemd/system/multi-user.target.wants/sriovctl-restore.service
systemctl enable sriovctl-restore.service
[ -L "$wants" ] || fail "systemctl enable made no $wants"

dpkg -r "$pkg"
[ ! -e "$wants" ] && [ ! -L "$wants" ] || fail "dpkg -r left $wants"
dpkg -P "$pkg"
trap - EXIT
left=""
while read -r f; do
  [ -z "$f" ] && continue
  # Directories other packages share (/usr/bin, /usr/share/man/man1...) stay; the package's own go.
  if [ -e "$f" ] && { [ ! -d "$f" ] || [[ "$f" == /etc/sriovctl* || "$f" == /usr/share/doc/sriovctl ]]; }; then
    left+=" $f"
  fi
done <<<"$files"
[ -z "$left" ] || fail "left after dpkg -P:$left"
echo "check-deb: $deb installs, runs, verifies and purges cleanly"
