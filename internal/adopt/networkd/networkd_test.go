package networkd_test

import (
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/adopt"
	"github.com/sriovctl/sriovctl/internal/adopt/networkd"
)

// The files follow systemd.link(5) and systemd.network(5): [Link] SR-IOVVirtualFunctions= in .link
// files, [SR-IOV] sections with VirtualFunction=, VLANId=, QualityOfService=, VLANProtocol=,
// MACSpoofCheck=, QueryReceiveSideScaling=, Trust=, LinkState= and MACAddress= in both.
const sriovLink = `# /etc/systemd/network/25-sriov.link
[Match]
OriginalName=enp1s0f0

[Link]
NamePolicy=keep kernel database onboard slot path
MACAddressPolicy=persistent
MTUBytes=9000
SR-IOVVirtualFunctions=4

[SR-IOV]
VirtualFunction=0
VLANId=5
VLANProtocol=802.1ad
QualityOfService=1
MACSpoofCheck=yes
QueryReceiveSideScaling=yes
Trust=yes
LinkState=yes
MACAddress=02:11:22:33:44:55

[SR-IOV]
VirtualFunction=1
VLANId=6
VLANProtocol=802.1Q
QualityOfService=2
MACSpoofCheck=no
QueryReceiveSideScaling=no
Trust=no
LinkState=no

[SR-IOV]
VirtualFunction=2
LinkState=auto
Trust=yes

[SR-IOV]
VirtualFunction=3
Trust=yes
`

const sriovNetwork = `# /etc/systemd/network/30-sriov.network
[Match]
Name=enp1s0f0

[Network]
DHCP=yes

[SR-IOV]
VirtualFunction=1
VLANId=7
`

func convert(t *testing.T, files ...networkd.File) (string, string) {
	t.Helper()
	pol, notes, err := networkd.Convert(files)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := adopt.Document(nil, nil, pol)
	if err != nil {
		t.Fatal(err)
	}
	all := ""
	for _, n := range notes {
		all += n.String() + "\n"
	}
	return string(doc), all
}

func TestConvert(t *testing.T) {
	cases := []struct {
		name  string
		files []networkd.File
		want  string
		notes []string
	}{
		{
			name:  "a .link file with the VF count and every [SR-IOV] key",
			files: []networkd.File{{Name: "25-sriov.link", Data: []byte(sriovLink)}},
			want: `pfs:
  - name: enp1s0f0
    numVfs: 4
    mtu: 9000
    vfs:
      - ids: "0"
        mac: "02:11:22:33:44:55"
        vlan: 5
        qos: 1
        vlanProto: 802.1ad
        spoofchk: true
        trust: true
        linkState: enable
        queryRss: true
      - ids: "1"
        vlan: 6
        qos: 2
        vlanProto: 802.1Q
        spoofchk: false
        trust: false
        linkState: disable
        queryRss: false
      - ids: "2"
        trust: true
        linkState: auto
      - ids: "3"
        trust: true
`,
		},
		{
			name: "a .network file's MTUBytes= wins over the .link file's, whatever the names' order",
			files: []networkd.File{
				{Name: "10-pf.network", Data: []byte("[Match]\nName=enp1s0f0\n\n[Link]\nMTUBytes=1500\n\n[SR-IOV]\nVirtualFunction=0\nTrust=yes\n")},
				{Name: "20-pf.link", Data: []byte("[Match]\nOriginalName=enp1s0f0\n\n[Link]\nSR-IOVVirtualFunctions=2\nMTUBytes=9000\n")},
			},
			want: `pfs:
  - name: enp1s0f0
    numVfs: 2
    mtu: 1500
    vfs:
      - ids: "0"
        trust: true
`,
			notes: []string{"10-pf.network:5: MTUBytes=1500 of enp1s0f0 replaces the .link file's 9000"},
		},
		{
			name:  "an MTU with a size suffix is left out with a note",
			files: []networkd.File{{Name: "25-pf.link", Data: []byte("[Match]\nOriginalName=enp1s0f0\n\n[Link]\nSR-IOVVirtualFunctions=2\nMTUBytes=9K\n")}},
			want: `pfs:
  - name: enp1s0f0
    numVfs: 2
`,
			notes: []string{"25-pf.link:6: MTUBytes=9K of enp1s0f0 is not an MTU in plain bytes (68-65535): left out"},
		},
		{
			name: "a .network file after it: its VLAN wins, with this section's QoS and protocol",
			files: []networkd.File{{Name: "dir/30-sriov.network", Data: []byte(sriovNetwork)},
				{Name: "dir/25-sriov.link", Data: []byte(sriovLink)}},
			want: `      - ids: "1"
        vlan: 7
        spoofchk: false
`,
			notes: []string{"30-sriov.network:10: VLANId=7 for VF 1 of enp1s0f0 overrides dir/25-sriov.link:24"},
		},
		{
			name: "only the first matching .link file applies; a PF by PCI path",
			files: []networkd.File{
				{Name: "10-pf.link", Data: []byte("[Match]\nPath=pci-0000:3b:00.0\n[Link]\nSR-IOVVirtualFunctions=8\n")},
				{Name: "20-pf.link", Data: []byte("[Match]\nPath=pci-0000:3b:00.0\n[Link]\nSR-IOVVirtualFunctions=2\n")},
			},
			want: `pfs:
  - pciAddress: 0000:3b:00.0
    numVfs: 8
`,
			notes: []string{"20-pf.link: left out: 10-pf.link already matches 0000:3b:00.0"},
		},
		{
			name: "what a policy cannot say",
			files: []networkd.File{
				{Name: "10-mac.link", Data: []byte("[Match]\nMACAddress=68:05:ca:00:00:01\n[Link]\nSR-IOVVirtualFunctions=2\n")},
				{Name: "40-odd.network", Data: []byte(`[Match]
Name=ens2f0
[SR-IOV]
VirtualFunction=0
VLANId=4095
QualityOfService=3
[SR-IOV]
VirtualFunction=1
QualityOfService=9
VLANId=10
[SR-IOV]
VirtualFunction=2
MACAddress=ff:ff:ff:ff:ff:ff
Frobnicate=yes
[SR-IOV]
VLANId=3
`)},
			},
			want: `pfs:
  - name: ens2f0
    vfs:
      - ids: "1"
        vlan: 10
`,
			notes: []string{
				"10-mac.link: SR-IOV settings left out: [Match] MACAddress=68:05:ca:00:00:01 does not name one PF",
				"40-odd.network:5: VLANId=4095: the policy allows VLANs 1-4094: left out",
				"40-odd.network:6: QualityOfService=3 without VLANId=",
				"40-odd.network:9: QualityOfService=9: the policy allows QoS 0-7",
				"40-odd.network:13: MACAddress=ff:ff:ff:ff:ff:ff: want a unicast MAC",
				"40-odd.network:14: [SR-IOV] Frobnicate=yes has no equivalent",
				"40-odd.network:15: [SR-IOV] without a valid VirtualFunction=",
			},
		},
		{
			name:  "a misspelt count systemd ignores",
			files: []networkd.File{{Name: "b.link", Data: []byte("[Match]\nOriginalName=eno1\n[Link]\nSRIOVVirtualFunctions=4\n[SR-IOV]\nVirtualFunction=0\nTrust=on\n")}},
			want:  "pfs:\n  - name: eno1\n    numVfs: 1\n",
			notes: []string{"b.link:4: SRIOVVirtualFunctions= is not a systemd key"},
		},
		{
			name:  "a VF beyond the VF count",
			files: []networkd.File{{Name: "a.link", Data: []byte("[Match]\nOriginalName=eno1\n[Link]\nSR-IOVVirtualFunctions=1\n[SR-IOV]\nVirtualFunction=3\nTrust=on\n")}},
			want:  "pfs:\n  - name: eno1\n    numVfs: 1\n",
			notes: []string{"a.link:6: VF 3 of eno1 does not exist with SR-IOVVirtualFunctions=1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, notes := convert(t, c.files...)
			if !strings.Contains(doc, c.want) {
				t.Errorf("policy:\n%s\nwant it to contain:\n%s", doc, c.want)
			}
			for _, w := range c.notes {
				if !strings.Contains(notes, w) {
					t.Errorf("no note %q in:\n%s", w, notes)
				}
			}
		})
	}
}

func TestConvertNothing(t *testing.T) {
	_, _, err := networkd.Convert([]networkd.File{{Name: "a.network", Data: []byte("[Match]\nName=eth0\n[Network]\nDHCP=yes\n")}, {Name: "README", Data: []byte("[SR-IOV]\nVirtualFunction=0\n")}})
	if err == nil || !strings.Contains(err.Error(), "no SR-IOV settings") {
		t.Errorf("err = %v", err)
	}
}

func TestParse(t *testing.T) {
	secs := networkd.Parse([]byte("# c\n; c\n[Match]\nName=a \\\n  b\n[Link]\nX = 1\nX=2\n"))
	if len(secs) != 2 || secs[0].Name != "Match" || secs[0].Entries[0].Value != "a    b" && secs[0].Entries[0].Value != "a  b" {
		t.Fatalf("%+v", secs)
	}
	if e, _ := secs[1].Get("X"); e.Value != "2" || e.Line != 8 {
		t.Errorf("last assignment wins: %+v", e)
	}
}

func TestLinkWithoutVFCount(t *testing.T) {
	doc, notes := convert(t, networkd.File{Name: "25-sriov.link", Data: []byte("[Match]\nOriginalName=eni99np1\n[SR-IOV]\nVirtualFunction=0\nTrust=yes\n[SR-IOV]\nVirtualFunction=2\nTrust=yes\n")},
		networkd.File{Name: "30-sriov.network", Data: []byte("[Match]\nName=eno1\n[SR-IOV]\nVirtualFunction=3\nTrust=yes\n")})
	if !strings.Contains(doc, "- name: eni99np1\n    numVfs: 3\n") || !strings.Contains(doc, "- name: eno1\n    vfs:\n") {
		t.Errorf("udev creates VFs up to the highest VirtualFunction= of a .link file; networkd creates none:\n%s", doc)
	}
	if !strings.Contains(notes, "25-sriov.link: no SR-IOVVirtualFunctions=: udev makes sure eni99np1 has at least 3 VFs") {
		t.Errorf("notes:\n%s", notes)
	}
}
