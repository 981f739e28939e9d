package managers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/adopt/managers"
)

var pfs = []managers.PF{
	{Name: "ens5f0", PCIAddress: "0000:01:00.0", MAC: "52:54:00:12:34:56", Driver: "igb"},
	{Name: "ens3f0", PCIAddress: "0000:3b:00.0", MAC: "b4:96:91:00:00:01", Driver: "ice"},
}

// nmSRIOV is a keyfile connection as nm-settings-keyfile(5) and nm-settings(5) ([sriov]: total-vfs,
// vf.N) describe it.
const nmSRIOV = `[connection]
id=sriov-pf
uuid=0b8d3a4e-3c8a-4a4e-9d0a-8b8e9d5f1c11
type=ethernet
interface-name=ens5f0

[ethernet]

[sriov]
autoprobe-drivers=true
total-vfs=4
vf.0=mac=02:00:00:00:00:01 vlans=100 trust=true

[ipv4]
method=auto
`

func pfNames(fs []managers.Finding) string {
	var n []string
	for _, f := range fs {
		n = append(n, f.PF)
	}
	return strings.Join(n, ",")
}

func TestDetect(t *testing.T) {
	cases := []struct {
		name, file, data string
		detect           func(string, []byte, []managers.PF) []managers.Finding
		want             string // the PFs found, comma-separated
		what             string
	}{
		{"NM connection with [sriov] on the PF", "a.nmconnection", nmSRIOV, managers.NetworkManagerFile, "ens5f0", "[sriov] autoprobe-drivers=true, total-vfs=4, vf.0="},
		{"NM connection on the PF without [sriov]", "b.nmconnection", "[connection]\nid=x\ntype=ethernet\ninterface-name=ens5f0\n[ipv4]\nmethod=auto\n", managers.NetworkManagerFile, "", ""},
		{"NM [sriov] on another interface", "c.nmconnection", strings.Replace(nmSRIOV, "interface-name=ens5f0", "interface-name=eno1", 1), managers.NetworkManagerFile, "", ""},
		{"NM [sriov] by MAC, no interface-name", "d.nmconnection", strings.Replace(strings.Replace(nmSRIOV, "interface-name=ens5f0\n", "", 1), "[ethernet]\n", "[ethernet]\nmac-address=B4:96:91:00:00:01\n", 1), managers.NetworkManagerFile, "ens3f0", "total-vfs=4"},
		{".link by PCI path", "10.link", "[Match]\nPath=pci-0000:3b:00.0\n[Link]\nSR-IOVVirtualFunctions=8\n", managers.NetworkdFile, "ens3f0", "SR-IOVVirtualFunctions=8"},
		{".link by name glob", "10.link", "[Match]\nOriginalName=ens*\n[Link]\nSR-IOVVirtualFunctions=2\n", managers.NetworkdFile, "ens5f0,ens3f0", ""},
		{".network by MAC with [SR-IOV]", "20.network", "[Match]\nMACAddress=52:54:00:12:34:56\n[SR-IOV]\nVirtualFunction=0\nVLANId=5\n", managers.NetworkdFile, "ens5f0", "[SR-IOV] VirtualFunction=0"},
		{".network by driver, negated", "20.network", "[Match]\nDriver=!igb\n[SR-IOV]\nVirtualFunction=1\n", managers.NetworkdFile, "ens3f0", ""},
		{".network without SR-IOV settings", "30.network", "[Match]\nName=ens5f0\n[Network]\nDHCP=yes\n", managers.NetworkdFile, "", ""},
		{".network names no SR-IOV count (only .link has it)", "30.network", "[Match]\nName=ens5f0\n[Link]\nSR-IOVVirtualFunctions=3\n", managers.NetworkdFile, "", ""},
		{"netplan PF by id", "50.yaml", "network:\n  version: 2\n  ethernets:\n    ens5f0:\n      virtual-function-count: 4\n", managers.NetplanFile, "ens5f0", "ethernets.ens5f0: virtual-function-count: 4"},
		{"netplan PF by match, VFs linked", "50.yaml", "network:\n  version: 2\n  ethernets:\n    pf:\n      match:\n        macaddress: \"b4:96:91:00:00:01\"\n    vf0:\n      link: pf\n", managers.NetplanFile, "ens3f0", "VF vf0"},
		{"netplan without SR-IOV", "50.yaml", "network:\n  version: 2\n  ethernets:\n    ens5f0:\n      dhcp4: true\n", managers.NetplanFile, "", ""},
		{"netplan broken file", "50.yaml", "network: [", managers.NetplanFile, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.detect(c.file, []byte(c.data), pfs)
			if pfNames(got) != c.want {
				t.Fatalf("found %q, want %q: %v", pfNames(got), c.want, got)
			}
			if c.what != "" && !strings.Contains(got[0].What, c.what) {
				t.Errorf("what = %q, want it to contain %q", got[0].What, c.what)
			}
		})
	}
}

func TestScan(t *testing.T) {
	root := t.TempDir()
	write := func(rel, data string, mode os.FileMode) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/netplan/50-sriov.yaml", "network:\n  ethernets:\n    ens5f0:\n      virtual-function-count: 2\n", 0o600)
	write("etc/systemd/network/10-sriov.link", "[Match]\nOriginalName=ens3f0\n[Link]\nSR-IOVVirtualFunctions=2\n", 0o644)
	write("etc/systemd/network/99-other.network", "[Match]\nName=eth0\n[SR-IOV]\nVirtualFunction=0\n", 0o644)
	write("etc/NetworkManager/system-connections/pf.nmconnection", nmSRIOV, 0o600)
	os.Symlink("/dev/null", filepath.Join(root, "etc/systemd/network/20-masked.link"))
	found, unreadable := managers.Scan(root, pfs)
	if len(unreadable) != 0 {
		t.Errorf("unreadable: %v", unreadable)
	}
	var got []string
	for _, f := range found {
		got = append(got, f.Tool+" "+strings.TrimPrefix(f.File, root)+" "+f.PF)
	}
	want := "NetworkManager /etc/NetworkManager/system-connections/pf.nmconnection ens5f0|systemd-networkd /etc/systemd/network/10-sriov.link ens3f0|netplan /etc/netplan/50-sriov.yaml ens5f0"
	if strings.Join(got, "|") != want {
		t.Errorf("found:\n%s\nwant:\n%s", strings.Join(got, "|"), want)
	}
	if s := found[2].String(); !strings.Contains(s, "netplan also manages ens5f0's SR-IOV settings") || !strings.Contains(s, "`netplan apply`") {
		t.Errorf("String() = %s", s)
	}
	if f, _ := managers.Scan(root, nil); f != nil {
		t.Errorf("no PFs, found %v", f)
	}
	if os.Geteuid() != 0 {
		os.Chmod(filepath.Join(root, "etc/NetworkManager/system-connections/pf.nmconnection"), 0)
		if _, unreadable := managers.Scan(root, pfs); len(unreadable) != 1 {
			t.Errorf("a file it may not read: unreadable = %v", unreadable)
		}
	}
}
