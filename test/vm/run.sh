#!/bin/bash
# test/vm/run.sh: runs sriovctl's guest suite against the real Linux igb/igbvf drivers on QEMU's emulated
# Intel 82576 and against netdevsim, the kernel's SR-IOV test device (see README.md here). It installs what
# it needs on a fresh Debian 12 machine (qemu from bookworm-backports, cpio, gcc-12 and make), caches the
# guest kernel and busybox .debs under $CACHE, builds netdevsim.ko for the guest kernel once per cache, a
# static sriovctl and the guest test binaries, packs an initramfs, boots it and turns the result lines the
# guest prints on its serial console into an exit code. Every step is bounded. The igb's wire goes to a
# QEMU hub whose only other port is an e1000 in the same guest (the wire tap): nothing leaves the guest.
#
# Usage: test/vm/run.sh [-run REGEXP]   (REGEXP is passed to the guest's go test binary)
# Env: SRIOVCTL_VM_CACHE (default /var/cache/sriovctl-vm), SRIOVCTL_VM_TIMEOUT (guest run, default 1200 s),
#      SRIOVCTL_VM_KEEP=1 keeps the work directory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${SRIOVCTL_VM_CACHE:-/var/cache/sriovctl-vm}
VM_TIMEOUT=${SRIOVCTL_VM_TIMEOUT:-1200}
RUN_REGEXP=.
if [ "${1:-}" = "-run" ]; then RUN_REGEXP=$2; fi
START=$(date +%s)

log() { echo "vm: $(($(date +%s) - START))s: $*" >&2; }
die() { echo "vm: FAIL: $*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive

# --- 1. host packages: qemu >= 8 with -device igb (bookworm-backports), cpio, xz ---------------------------
need_root() { [ "$(id -u)" = 0 ] || die "installing $1 needs root (apt-get); install it or rerun as root"; }
have_igb() { # (no `| grep -q`: with pipefail its early exit can fail the pipeline)
	command -v qemu-system-x86_64 >/dev/null && [[ "$(qemu-system-x86_64 -device help 2>/dev/null)" == *'"igb"'* ]]
}
# debian_uri SUITE: the URI of the machine's own apt source for Debian's SUITE (a local mirror, a proxy,
# the archive...), read from the one-line (.list) and deb822 (.sources) files apt reads; no host is named here.
debian_uri() {
	local suite=$1 f
	{
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [opt=v ...] URI SUITE COMPONENTS...
		awk -v s="$suite" '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i+1) == s) { print $i; exit } }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# stanzas separated by blank lines; Types, URIs and Suites fields (case-insensitive names)
		awk -v s="$suite" 'function flush() { if (deb && ok && uri != "") { print uri; exit } deb = ok = 0; uri = "" }
			/^[ \t]*$/ { flush(); next } /^#/ { next }
			tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
			tolower($1) == "enabled:" && tolower($2) == "no" { deb = 0 }
			END { flush() }' "$f"
	done
	} | head -1 | grep . # fails when none was found
}
if ! have_igb; then
	log "installing qemu-system-x86 from bookworm-backports"
	need_root qemu-system-x86
	src=/etc/apt/sources.list.d/sriovctl-bookworm-backports.sources
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		uri=$(debian_uri bookworm) || die "no Debian bookworm apt source in /etc/apt/sources.list{,.d} to derive bookworm-backports from"
		log "adding bookworm-backports from $uri"
		printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" >"$src"
	fi
	timeout 900 apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null || die "apt-get update"
	timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null ||
		die "installing qemu-system-x86 from bookworm-backports"
	have_igb || die "qemu-system-x86_64 has no igb device (need QEMU >= 8)"
fi
for tool in cpio xz; do
	if ! command -v $tool >/dev/null; then
		log "installing $tool"
		need_root $tool
		timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends ${tool/xz/xz-utils} >/dev/null ||
			{ timeout 900 apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends ${tool/xz/xz-utils} >/dev/null; } ||
			die "installing $tool"
	fi
done
command -v /usr/sbin/ip >/dev/null || command -v /sbin/ip >/dev/null || command -v /bin/ip >/dev/null ||
	timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends iproute2 >/dev/null || die "installing iproute2"

# --- 2. guest kernel and busybox, downloaded once into $CACHE ------------------------------------------------
mkdir -p "$CACHE/debs"
fetch_deb() { # fetch_deb PACKAGE [VERSION] -> path of the cached .deb
	local pkg=$1 ver=${2:-} f want
	want=$pkg
	[ -z "$ver" ] || want="$pkg=$ver"
	f=$(ls "$CACHE/debs/${pkg}_"${ver:-*}_*.deb 2>/dev/null | tail -1 || true)
	if [ -z "$f" ]; then
		log "downloading $want"
		(cd "$CACHE/debs" && timeout 600 apt-get download -q -o APT::Sandbox::User=root "$want" >/dev/null) ||
			{ timeout 900 apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && (cd "$CACHE/debs" && timeout 600 apt-get download -q -o APT::Sandbox::User=root "$want" >/dev/null); } ||
			die "apt-get download $want"
		f=$(ls "$CACHE/debs/${pkg}_"${ver:-*}_*.deb | tail -1)
	fi
	echo "$f"
}
KPKG=$(cat "$CACHE/kernel-package" 2>/dev/null || true)
if [ -z "$KPKG" ]; then
	KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
	[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64 to a versioned kernel package"
	echo "$KPKG" >"$CACHE/kernel-package"
fi
KDEB=$(fetch_deb "$KPKG")
BDEB=$(fetch_deb busybox-static)
KDIR="$CACHE/kernel/$(basename "$KDEB" .deb)"
if [ ! -d "$KDIR/boot" ]; then
	log "unpacking $(basename "$KDEB")"
	rm -rf "$KDIR.tmp" && mkdir -p "$KDIR.tmp"
	timeout 300 dpkg-deb -x "$KDEB" "$KDIR.tmp" || die "unpacking kernel"
	mv "$KDIR.tmp" "$KDIR"
fi
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -1)
KVER=${VMLINUZ##*/vmlinuz-}
MODDIR="$KDIR/lib/modules/$KVER/kernel"

# --- 2b. netdevsim.ko for the guest kernel (Debian does not build it): once per cache ------------------------
# From the same Debian version's linux-source, headers and kbuild (apt-get download + dpkg -x: nothing is
# installed), built out of tree with the host's gcc-12. ~170 MB of downloads and ~40 s of build, once.
NDS="$CACHE/netdevsim/$KVER/netdevsim.ko"
build_netdevsim() {
	local ver mm kb deps hcommon kbuild d
	ver=$(dpkg-deb -f "$KDEB" Version)
	mm=$(echo "$KVER" | cut -d. -f1,2)
	for tool in make gcc-12; do
		if ! command -v $tool >/dev/null; then
			need_root $tool
			log "installing $tool (to build netdevsim.ko)"
			timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $tool >/dev/null ||
				{ timeout 900 apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $tool >/dev/null; } ||
				die "installing $tool"
		fi
	done
	# linux-headers-KVER depends on its -common headers and on the kbuild tools of the same version.
	deps=$(apt-cache show "linux-headers-$KVER=$ver" 2>/dev/null | sed -n 's/^Depends: //p' | head -1 || true)
	if [ -z "$deps" ]; then # a fresh machine's package lists may predate this kernel
		timeout 900 apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null || die "apt-get update"
		deps=$(apt-cache show "linux-headers-$KVER=$ver" 2>/dev/null | sed -n 's/^Depends: //p' | head -1 || true)
	fi
	hcommon=$(echo "$deps" | grep -o 'linux-headers-[^ ,]*-common' | head -1)
	kbuild=$(echo "$deps" | grep -o 'linux-kbuild-[^ ,]*' | head -1)
	[ -n "$hcommon" ] && [ -n "$kbuild" ] || die "cannot resolve the headers of linux-headers-$KVER=$ver (apt-cache show)"
	kb="$CACHE/netdevsim/build-$KVER"
	rm -rf "$kb" && mkdir -p "$kb"
	for d in "linux-headers-$KVER" "$hcommon" "$kbuild" "linux-source-$mm"; do
		timeout 600 dpkg-deb -x "$(fetch_deb "$d" "$ver")" "$kb" || die "unpacking $d"
	done
	# The headers' Makefile includes the -common tree by its installed path: point it at the unpacked one.
	sed -i -E "s|^include .*/usr/src/(linux-headers-[^/]+/Makefile)|include $kb/usr/src/\1|" "$kb/usr/src/linux-headers-$KVER/Makefile"
	(cd "$kb" && timeout 600 tar -xJf "usr/src/linux-source-$mm.tar.xz" "linux-source-$mm/drivers/net/netdevsim") ||
		die "unpacking netdevsim's sources"
	log "building netdevsim.ko for $KVER"
	# BTF off: it needs pahole, and the module loads without it.
	timeout 900 make -s -C "$kb/usr/src/linux-headers-$KVER" M="$kb/linux-source-$mm/drivers/net/netdevsim" \
		CONFIG_NETDEVSIM=m CONFIG_DEBUG_INFO_BTF_MODULES= -j2 modules >"$CACHE/netdevsim/build.log" 2>&1 ||
		die "building netdevsim.ko (log: $CACHE/netdevsim/build.log)"
	mkdir -p "$(dirname "$NDS")"
	cp "$kb/linux-source-$mm/drivers/net/netdevsim/netdevsim.ko" "$NDS.tmp" && mv "$NDS.tmp" "$NDS"
	rm -rf "$kb"
}
[ -f "$NDS" ] || build_netdevsim

# --- 3. build sriovctl and the guest test binary (static) ---------------------------------------------------
WORK=$(mktemp -d /tmp/sriovctl-vm.XXXXXX)
cleanup() { if [ "${SRIOVCTL_VM_KEEP:-}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
INITRD_ROOT="$WORK/root"
mkdir -p "$INITRD_ROOT"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/modules,usr/bin,usr/sbin,scenarios}
log "building sriovctl and the guest suite"
MAIN_PKG=${SRIOVCTL_MAIN_PKG:-./cmd/sriovctl}
if [ "${SRIOVCTL_VM_NO_CLI:-}" != 1 ]; then
	(cd "$ROOT" && CGO_ENABLED=0 timeout 300 go build -o "$INITRD_ROOT/bin/sriovctl" "$MAIN_PKG") || die "go build sriovctl"
fi
# Guest test binaries, run in this order by /init: the suite, then the kernel package's guest-only tests.
(cd "$ROOT" && CGO_ENABLED=0 timeout 300 go test -c -tags vmguest -o "$INITRD_ROOT/bin/1-guest.test" ./test/vm/guest) ||
	die "go test -c ./test/vm/guest"
(cd "$ROOT" && CGO_ENABLED=0 timeout 300 go test -c -tags vmguest -o "$INITRD_ROOT/bin/2-kernel.test" ./internal/host/kernel) ||
	die "go test -c ./internal/host/kernel"
cp -r "$ROOT/test/scenarios/." "$INITRD_ROOT/scenarios/" 2>/dev/null || true

# --- 4. initramfs: busybox, iproute2's ip with its libraries, modules, /init ---------------------------------
timeout 60 dpkg-deb -x "$BDEB" "$WORK/busybox" || die "unpacking busybox"
cp "$WORK/busybox/bin/busybox" "$INITRD_ROOT/bin/busybox"
for app in sh mount umount mkdir cat echo ls sleep poweroff insmod grep sed readlink ln rm uname dmesg true; do
	ln -sf busybox "$INITRD_ROOT/bin/$app"
done
IPBIN=$(command -v /usr/sbin/ip || command -v /sbin/ip || command -v /bin/ip)
cp "$IPBIN" "$INITRD_ROOT/usr/sbin/ip"
ln -sf ../usr/sbin/ip "$INITRD_ROOT/sbin/ip"
ln -sf ../usr/sbin/ip "$INITRD_ROOT/bin/ip" # iproute2, not busybox's applet
for lib in $(ldd "$IPBIN" | grep -o '/[^ ]*'); do
	mkdir -p "$INITRD_ROOT$(dirname "$lib")"
	cp -L "$lib" "$INITRD_ROOT$lib"
done
# Modules in load order (their modinfo depends= order): igb and igbvf; vfio for the bind tests; e1000 for
# the wire tap (the other end of the igb's wire, see the qemu command below); tc ingress, flower and
# mirred for the mirror rules' netlink test.
MODS="drivers/dca/dca drivers/i2c/algos/i2c-algo-bit drivers/net/ethernet/intel/igb/igb
drivers/net/ethernet/intel/igbvf/igbvf virt/lib/irqbypass drivers/vfio/vfio
drivers/vfio/vfio_virqfd drivers/vfio/vfio_iommu_type1 drivers/vfio/pci/vfio-pci-core drivers/vfio/pci/vfio-pci
drivers/net/ethernet/intel/e1000/e1000 net/sched/sch_ingress net/sched/cls_flower net/sched/act_mirred
net/psample/psample drivers/net/dummy net/sched/cls_matchall"
: >"$INITRD_ROOT/lib/modules/order"
for m in $MODS; do
	src=$(ls "$MODDIR/$m.ko"* 2>/dev/null | head -1 || true)
	if [ -z "$src" ]; then # e.g. vfio_virqfd is built into vfio on newer kernels
		log "note: no module $m in $KVER"
		continue
	fi
	name=$(basename "$m")
	case "$src" in
	*.xz) xz -dc "$src" >"$INITRD_ROOT/lib/modules/$name.ko" ;;
	*) cp "$src" "$INITRD_ROOT/lib/modules/$name.ko" ;;
	esac
	echo "$name" >>"$INITRD_ROOT/lib/modules/order"
done
# netdevsim (built above) after psample, its one dependency; dummy and matchall push frames into a
# representor's ingress (test/vm/guest/netdevsim_test.go).
strip --strip-debug -o "$INITRD_ROOT/lib/modules/netdevsim.ko" "$NDS" 2>/dev/null || cp "$NDS" "$INITRD_ROOT/lib/modules/netdevsim.ko"
echo netdevsim >>"$INITRD_ROOT/lib/modules/order"
cp "$ROOT/test/vm/init" "$INITRD_ROOT/init"
chmod +x "$INITRD_ROOT/init"
echo "$RUN_REGEXP" >"$INITRD_ROOT/etc/run-regexp"
# The apply benchmark (test/vm/guest/bench_test.go): repetitions, and whether its goals fail the run.
echo "${SRIOVCTL_VM_BENCH_REPS:-5}" >"$INITRD_ROOT/etc/bench-reps"
if [ "${SRIOVCTL_VM_BENCH_GOALS:-}" = 1 ]; then : >"$INITRD_ROOT/etc/bench-goals"; fi
(cd "$INITRD_ROOT" && find . | timeout 120 cpio -o -H newc --quiet | timeout 120 gzip -1 >"$WORK/initrd.gz") ||
	die "building the initramfs"
log "initramfs $(du -h "$WORK/initrd.gz" | cut -f1)"

# --- 5. boot and collect results from the serial console --------------------------------------------------
ACCEL="-accel tcg"
if [ -w /dev/kvm ]; then ACCEL="-accel kvm -accel tcg"; fi
log "booting $KVER under QEMU ($ACCEL), timeout ${VM_TIMEOUT}s"
SERIAL="$WORK/serial.log"
boot() {
	# no_timer_check: under a loaded TCG host the kernel's IO-APIC timer check can fail and panic.
	timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
		-M q35 $ACCEL -smp 2 -m 1024 -kernel "$VMLINUZ" -initrd "$WORK/initrd.gz" \
		-append "console=ttyS0 rdinit=/init panic=-1 loglevel=4 intel_iommu=on iommu=pt no_timer_check" \
		-device intel-iommu -device pcie-root-port,id=rp0,slot=0,chassis=1 \
		-netdev hubport,id=wire0,hubid=0 -netdev hubport,id=wire1,hubid=0 \
		-device igb,bus=rp0,netdev=wire0,mac=52:54:00:12:34:56 -device e1000,netdev=wire1,mac=52:54:00:00:00:99 \
		</dev/null | tee "$SERIAL" | sed -u 's/^/guest| /' >&2
	return "${PIPESTATUS[0]}"
}
set +e
boot
QRC=$?
if [ "$QRC" != 124 ] && ! grep -aq 'SRIOVCTL-VM: BOOTED' "$SERIAL"; then
	log "the guest kernel did not reach /init (qemu exit $QRC); booting once more"
	boot
	QRC=$?
fi
set -e
tr -d '\r' <"$SERIAL" >"$SERIAL.txt"
mkdir -p "$CACHE/logs" && cp "$SERIAL.txt" "$CACHE/logs/serial-last.log"
[ "$QRC" = 124 ] && die "guest did not finish within ${VM_TIMEOUT}s (serial log: $CACHE/logs/serial-last.log)"
grep -q '^SRIOVCTL-VM: END' "$SERIAL.txt" || die "guest ended without a result (qemu exit $QRC; serial log: $CACHE/logs/serial-last.log)"
pass=$(grep -c '^SRIOVCTL-VM: PASS ' "$SERIAL.txt" || true)
fail=$(grep -c '^SRIOVCTL-VM: FAIL ' "$SERIAL.txt" || true)
# In the guest every test has what it needs: a skip means something (a module, the wire tap) was missing.
skip=$(grep -c '^SRIOVCTL-VM: SKIP ' "$SERIAL.txt" || true)
grep '^SRIOVCTL-VM: \(PASS\|FAIL\|SKIP\) ' "$SERIAL.txt" >&2 || true
status=$(sed -n 's/^SRIOVCTL-VM: END status=\([0-9]*\).*/\1/p' "$SERIAL.txt" | tail -1)
log "guest suite: $pass passed, $fail failed, $skip skipped, go test exit status $status, total $(($(date +%s) - START))s"
[ "$skip" = 0 ] || die "$skip guest tests skipped (a module that did not load, or a missing device): the guest suite must run them all"
[ "$fail" = 0 ] && [ "$status" = 0 ] && [ "$pass" -gt 0 ] || die "guest suite failed"
echo "vm: OK"
