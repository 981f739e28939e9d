package pool

import (
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func TestLibvirtInterface(t *testing.T) {
	r := ledger.Record{PCIAddress: "0000:af:02.3", Config: sriov.VFConfig{MAC: "02:00:00:00:01:01", VLAN: 100}}
	x, err := LibvirtInterface(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<interface type="hostdev" managed="yes">`, `<mac address="02:00:00:00:01:01">`,
		`<address type="pci" domain="0x0000" bus="0xaf" slot="0x02" function="0x3">`, `<tag id="100">`} {
		if !strings.Contains(x, want) {
			t.Errorf("missing %s in\n%s", want, x)
		}
	}
	flat, err := LibvirtInterface(ledger.Record{PCIAddress: "0000:af:02.3", Config: sriov.VFConfig{MAC: sriov.ZeroMAC}})
	if err != nil || strings.Contains(flat, "<vlan>") || strings.Contains(flat, "<mac") {
		t.Errorf("flat VF without MAC: %v\n%s", err, flat)
	}
	if _, err := LibvirtInterface(ledger.Record{PCIAddress: "nonsense"}); err == nil {
		t.Error("bad PCI address accepted")
	}
	if got := strings.Join(QEMUArgs(r), " "); got != "-device vfio-pci,host=0000:af:02.3" {
		t.Errorf("qemu args %q", got)
	}
}

// TestLibvirtInterfaceValidatesAgainstLibvirtSchema puts the element into a minimal domain and checks it
// with libvirt's own schema. In CI (CI set) a missing virt-xml-validate is a failure, not a skip:
// .ci/run installs it (Debian's libvirt-clients).
func TestLibvirtInterfaceValidatesAgainstLibvirtSchema(t *testing.T) {
	validate := libvirtValidator(t, "domain")
	cases := []ledger.Record{
		{Owner: "web1", PCIAddress: "0000:3b:02.0", Config: sriov.VFConfig{MAC: "02:00:00:00:01:01", VLAN: 100, QoS: 3}},
		{Owner: "flat", PCIAddress: "0000:d8:1f.7", Config: sriov.VFConfig{MAC: sriov.ZeroMAC}},
	}
	for _, r := range cases {
		iface, err := LibvirtInterface(r)
		if err != nil {
			t.Fatal(err)
		}
		var dev libvirtxml.DomainInterface
		if err := dev.Unmarshal(iface); err != nil {
			t.Fatalf("our own XML does not parse back: %v\n%s", err, iface)
		}
		dom := libvirtxml.Domain{
			Type: "kvm", Name: r.Owner, Memory: &libvirtxml.DomainMemory{Value: 1, Unit: "GiB"},
			OS: &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm"}},
		}
		doc, err := dom.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		// Insert the element exactly as printed, not a re-marshalled copy.
		doc = strings.Replace(doc, "</domain>", "<devices>\n"+iface+"\n</devices>\n</domain>", 1)
		if err := validate(doc); err != nil {
			t.Fatalf("virt-xml-validate: %v\n%s", err, doc)
		}
		// The check has teeth: the same document with an invalid managed value is refused.
		if validate(strings.Replace(doc, `managed="yes"`, `managed="maybe"`, 1)) == nil {
			t.Fatal("virt-xml-validate accepted managed=\"maybe\"; it is not validating")
		}
	}
}
