package packaging

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/cli"
)

// packagedBinary is where the .deb installs sriovctl; units must start it from there.
const packagedBinary = "/usr/bin/sriovctl"

func units(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "dist", "systemd", "*.service"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no units in dist/systemd: %v", err)
	}
	return files
}

// execStarts returns the ExecStart= command lines of a unit (prefixes such as '-' or '!' removed).
func execStarts(t *testing.T, unit string) [][]string {
	t.Helper()
	f, err := os.Open(unit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			out = append(out, strings.Fields(strings.TrimLeft(v, "-@:+!")))
		}
	}
	return out
}

// TestUnitsStartRealCommands: every unit starts the packaged binary with a command and flags that exist,
// so a renamed flag or a flag of a feature not merged yet fails here, not at boot.
func TestUnitsStartRealCommands(t *testing.T) {
	for _, unit := range units(t) {
		t.Run(filepath.Base(unit), func(t *testing.T) {
			lines := execStarts(t, unit)
			if len(lines) == 0 {
				t.Fatal("no ExecStart=")
			}
			for _, argv := range lines {
				if argv[0] != packagedBinary {
					t.Fatalf("ExecStart runs %s, want the packaged %s", argv[0], packagedBinary)
				}
				// --help parses every flag against the real command tree, then prints help instead of
				// running: an unknown command or flag is an error, a valid line exits 0.
				var out, errb bytes.Buffer
				code := cli.Run(t.Context(), append(argv[1:], "--help"), strings.NewReader(""), &out, &errb)
				if code != 0 || !strings.Contains(out.String(), "Usage:") {
					t.Fatalf("`%s`: exit %d: %s", strings.Join(argv, " "), code, errb.String())
				}
			}
		})
	}
}

// TestUnitsVerify runs `systemd-analyze verify` on each unit as installed: in a scratch root with the unit
// in /usr/lib/systemd/system and an executable at /usr/bin/sriovctl. systemd-analyze reports most mistakes
// (unknown keys, bad values, dependencies on malformed names) as warnings with exit 0, so any output
// fails the test. Man pages are checked where the .deb is installed (CI), not here.
func TestUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("SRIOVCTL_REQUIRE_SYSTEMD") == "1" {
			t.Fatal("systemd-analyze not found and SRIOVCTL_REQUIRE_SYSTEMD=1")
		}
		t.Skip("systemd-analyze not installed (install systemd, or set SRIOVCTL_REQUIRE_SYSTEMD=1 to make this an error)")
	}
	for _, unit := range units(t) {
		t.Run(filepath.Base(unit), func(t *testing.T) {
			root := t.TempDir()
			unitDir := filepath.Join(root, "usr", "lib", "systemd", "system")
			for _, d := range []string{unitDir, filepath.Join(root, "usr", "bin")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(root, packagedBinary), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(unit)
			if err != nil {
				t.Fatal(err)
			}
			installed := filepath.Join(unitDir, filepath.Base(unit))
			if err := os.WriteFile(installed, data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(analyze, "verify", "--man=no", "--root="+root, installed).CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}

// TestRestoreUnitOrdering pins what the restore unit promises: it pulls in the wait for devices it is
// ordered after, runs before the services that use VFs, and keeps its state dir.
func TestRestoreUnitOrdering(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "dist", "systemd", "sriovctl-restore.service"))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			values[k] = append(values[k], strings.Fields(v)...)
		}
	}
	has := func(key, want string) bool {
		for _, v := range values[key] {
			if v == want {
				return true
			}
		}
		return false
	}
	for _, w := range []struct{ key, unit string }{
		{"Wants", "systemd-udev-settle.service"}, {"After", "systemd-udev-settle.service"},
		{"Before", "libvirtd.service"}, {"Before", "nova-compute.service"}, {"Before", "openvswitch-switch.service"},
		{"Before", "network-pre.target"}, {"StateDirectory", "sriovctl"},
	} {
		if !has(w.key, w.unit) {
			t.Errorf("%s= lacks %s (has %v)", w.key, w.unit, values[w.key])
		}
	}
	for _, key := range []string{"ProtectKernelTunables", "PrivateDevices", "ProtectKernelLogs", "PrivateNetwork"} {
		if has(key, "yes") || has(key, "true") {
			t.Errorf("%s=yes would block the sysfs, /dev/kmsg or netlink access restore needs", key)
		}
	}
}
