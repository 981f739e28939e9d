package pool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func testPF() *sriov.PF {
	return &sriov.PF{Name: "ens3f0", Driver: "ice", NumVFs: 4, VFs: []sriov.VF{
		{ID: 0, PCIAddress: "0000:3b:01.0"}, {ID: 1, PCIAddress: "0000:3b:01.1"}, {ID: 2, PCIAddress: "0000:3b:01.2"}, {ID: 3, PCIAddress: "0000:3b:1f.7"}}}
}

func TestLibvirtNetwork(t *testing.T) {
	x, err := LibvirtNetwork("vms-net", policy.Pool{Name: "vms", PF: "ens3f0", VFIDs: []int{1, 3}}, testPF())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<name>vms-net</name>", `<forward mode="hostdev" managed="yes">`, `<driver name="vfio">`,
		`<address type="pci" domain="0x0000" bus="0x3b" slot="0x01" function="0x1">`, `<address type="pci" domain="0x0000" bus="0x3b" slot="0x1f" function="0x7">`} {
		if !strings.Contains(x, want) {
			t.Errorf("missing %s in\n%s", want, x)
		}
	}
	if strings.Count(x, "<address ") != 2 {
		t.Errorf("want the pool's 2 VFs only:\n%s", x)
	}
	var back libvirtxml.Network
	if err := back.Unmarshal(x); err != nil || len(back.Forward.Addresses) != 2 || *back.Forward.Addresses[1].PCI.Slot != 0x1f {
		t.Errorf("does not parse back: %v %+v", err, back.Forward)
	}
	for _, c := range []struct {
		pf   *sriov.PF
		ids  []int
		want string
	}{
		{testPF(), []int{2, 4}, "VF 4 of ens3f0 does not exist (it has 4 VFs)"},
		{&sriov.PF{Name: "eni0np1", Driver: "netdevsim", NumVFs: 2, VFsHaveNoDevice: true, VFs: []sriov.VF{{ID: 0}, {ID: 1}}}, []int{0}, "have no PCI function"},
		{&sriov.PF{Name: "x", NumVFs: 1, VFs: []sriov.VF{{ID: 0, PCIAddress: "bogus"}}}, []int{0}, "x vf 0"},
	} {
		if _, err := LibvirtNetwork("n", policy.Pool{Name: "vms", VFIDs: c.ids}, c.pf); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}

// TestLibvirtNetworkValidatesAgainstLibvirtSchema checks the network with libvirt's own schema, as
// TestLibvirtInterfaceValidatesAgainstLibvirtSchema does the interface (a failure in CI, a skip elsewhere).
func TestLibvirtNetworkValidatesAgainstLibvirtSchema(t *testing.T) {
	validate := libvirtValidator(t, "network")
	doc, err := LibvirtNetwork("sriov-vms", policy.Pool{Name: "vms", VFIDs: []int{0, 1, 2, 3}}, testPF())
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(doc); err != nil {
		t.Fatalf("virt-xml-validate: %v\n%s", err, doc)
	}
	// The check has teeth: the same network with an invalid forward mode is refused.
	if validate(strings.Replace(doc, `mode="hostdev"`, `mode="teleport"`, 1)) == nil {
		t.Fatal("virt-xml-validate accepted forward mode teleport; it is not validating")
	}
}

// libvirtValidator returns a check of a document against libvirt's schema (virt-xml-validate FILE schema).
// Without the tool the test skips, except in CI (CI set), where .ci/run installs it (libvirt-clients).
func libvirtValidator(t *testing.T, schema string) func(doc string) error {
	t.Helper()
	tool, err := exec.LookPath("virt-xml-validate")
	if err == nil {
		_, err = exec.LookPath("xmllint") // virt-xml-validate runs it
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v; CI must install virt-xml-validate and xmllint (apt-get install libvirt-clients libxml2-utils)", err)
		}
		t.Skipf("%v (apt-get install libvirt-clients libxml2-utils); CI runs this test", err)
	}
	return func(doc string) error {
		path := filepath.Join(t.TempDir(), schema+".xml")
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(tool, path, schema).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
}
