package export_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/adopt"
	"github.com/sriovctl/sriovctl/internal/adopt/export"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// step is one change made to a lab VF by hand (through the service, as `vf set` and `vf bind` do).
type step struct {
	vf     int
	s      sriov.VFSettings
	driver string
}

func variedSteps(fresh sriov.VFConfig) []step {
	p := adopt.Ptr[int]
	return []step{
		{vf: 0, s: sriov.VFSettings{MAC: adopt.Ptr("02:00:00:00:aa:01"), VLAN: p(100), QoS: p(3)}},
		{vf: 1, s: sriov.VFSettings{VLAN: p(200), VLANProto: adopt.Ptr(sriov.VLANProto8021AD)}},
		{vf: 1, s: sriov.VFSettings{SpoofCheck: adopt.Ptr(!fresh.SpoofCheck), Trust: adopt.Ptr(true)}},
		{vf: 2, s: sriov.VFSettings{LinkState: adopt.Ptr(sriov.LinkStateDisable)}},
		{vf: 2, s: sriov.VFSettings{MinTxRateMbps: p(100), MaxTxRateMbps: p(1000)}},
		{vf: 2, s: sriov.VFSettings{QueryRSS: adopt.Ptr(true)}},
		{vf: 3, s: sriov.VFSettings{MaxTxRateMbps: p(500), VLAN: p(0)}},
		{vf: 3, driver: "vfio-pci"},
		{vf: 4, s: sriov.VFSettings{MAC: adopt.Ptr("02:00:00:00:aa:05")}},
		{vf: 4, driver: "vfio-pci"},
	}
}

// TestExportPlansNoChangesAndReproduces sets varied VF settings on a lab PF of every NIC profile (and a
// second PF in switchdev mode where the NIC has one), exports it, and checks that planning the export on
// the same host makes no change and that applying it to a fresh lab with the same NICs gives the same
// VFs, settings and drivers.
func TestExportPlansNoChangesAndReproduces(t *testing.T) {
	ctx := context.Background()
	for _, prof := range nicprofile.All() {
		t.Run(prof.Name, func(t *testing.T) {
			nics := []lab.NIC{{Name: "p0", Profile: prof.Name}}
			if prof.Switchdev {
				nics = append(nics, lab.NIC{Name: "p1", Profile: prof.Name})
			}
			src := newLab(t, nics)
			svc := service.New(src, filepath.Join(t.TempDir(), "state"), service.Options{})
			done := 0
			for _, n := range nics {
				if n.Name == "p1" {
					if err := src.SetEswitchMode(ctx, n.Name, "switchdev"); err != nil {
						t.Fatal(err)
					}
				}
				vfs := min(5, prof.TotalVFs)
				if _, err := svc.SetNumVFs(ctx, n.Name, vfs, false); err != nil {
					t.Fatal(err)
				}
				for _, s := range variedSteps(prof.FreshVFConfig()) {
					if s.vf >= vfs {
						continue
					}
					var err error
					if s.driver != "" {
						_, err = svc.BindVF(ctx, n.Name, s.vf, s.driver, false)
					} else {
						_, err = svc.SetVF(ctx, service.VFRequest{PF: n.Name, VF: s.vf, Settings: s.s, ReloadDriver: true})
					}
					if err != nil {
						t.Logf("%s vf %d: the NIC refuses %+v: %v", n.Name, s.vf, s, err) // the profile says so
						continue
					}
					done++
				}
			}
			if done < 3 {
				t.Fatalf("only %d of the varied settings were taken: the test would prove little", done)
			}
			st := observe(t, src)
			pol, notes, err := export.Export(st.PFs, export.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(notes) != 0 {
				t.Errorf("unexpected notes: %v", notes)
			}
			doc, err := adopt.Document([]string{"test"}, notes, pol)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := policy.Parse("export.yaml", doc)
			if err != nil {
				t.Fatalf("%v\n%s", err, doc)
			}
			if p := plan.Build(st, parsed, plan.Options{}); len(p.Ops) != 0 || len(p.Problems) != 0 {
				t.Fatalf("plan of the export on the same host: %s, ops %v, problems %v\n%s", p.Summary(), p.Ops, p.Problems, doc)
			}
			fresh := newLab(t, nics)
			res, err := service.New(fresh, filepath.Join(t.TempDir(), "state"), service.Options{}).
				Apply(ctx, service.ApplyRequest{Policy: parsed, Data: doc, Yes: true})
			if err != nil {
				t.Fatalf("apply of the export to a fresh lab: %v\n%s", err, doc)
			}
			if res.Writes == 0 {
				t.Fatal("apply to a fresh lab wrote nothing")
			}
			got := observe(t, fresh)
			for _, want := range st.PFs {
				g := got.FindPF(want.Name)
				if g.NumVFs != want.NumVFs || g.EswitchMode != want.EswitchMode {
					t.Errorf("%s: %d VFs eswitch %q, want %d %q", want.Name, g.NumVFs, g.EswitchMode, want.NumVFs, want.EswitchMode)
				}
				for _, wv := range want.VFs {
					gv := g.VF(wv.ID)
					if gv == nil || gv.VFConfig != wv.VFConfig || gv.Driver != wv.Driver {
						t.Errorf("%s vf %d: got %+v, want %+v\n%s", want.Name, wv.ID, gv, wv, doc)
					}
				}
			}
		})
	}
}

// TestExportNotes covers what a policy cannot say: igb's admin MAC still waiting for a VF driver reload,
// a VF bound to no driver, and a PF whose VF list the kernel cut short.
func TestExportNotes(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, []lab.NIC{{Name: "ens5f0", Profile: "igb"}})
	svc := service.New(l, filepath.Join(t.TempDir(), "state"), service.Options{})
	if _, err := svc.SetNumVFs(ctx, "ens5f0", 3, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetVF(ctx, service.VFRequest{PF: "ens5f0", VF: 0, Settings: sriov.VFSettings{MAC: adopt.Ptr("02:00:00:00:00:10"), VLAN: adopt.Ptr(7)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.BindVF(ctx, "ens5f0", 1, "none", false); err != nil {
		t.Fatal(err)
	}
	st := observe(t, l)
	pol, notes, err := export.Export(st.PFs, export.Options{ByPCIAddress: true})
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	for _, n := range notes {
		text += n.String() + "\n"
	}
	for _, want := range []string{"ens5f0 vf 0: admin MAC 02:00:00:00:00:10 has not reached the VF's netdev", "ens5f0 vf 1: bound to no driver"} {
		if !strings.Contains(text, want) {
			t.Errorf("notes lack %q:\n%s", want, text)
		}
	}
	pf := pol.PFs[0]
	if pf.PCIAddress != st.PFs[0].PCIAddress || pf.Name != "" {
		t.Errorf("--pci-address: PF named %q / %q", pf.Name, pf.PCIAddress)
	}
	if len(pf.VFs) != 1 || pf.VFs[0].IDs != "0" || pf.VFs[0].MAC != nil || pf.VFs[0].VLAN == nil || *pf.VFs[0].VLAN != 7 {
		t.Errorf("vfs = %+v; want only vf 0 with vlan 7 and no mac", pf.VFs)
	}
	doc, err := adopt.Document(nil, notes, pol)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "# note: ens5f0 vf 1: bound to no driver") {
		t.Errorf("the notes are not comments of the document:\n%s", doc)
	}
	parsed, err := policy.Parse("x", doc)
	if err != nil {
		t.Fatal(err)
	}
	if p := plan.Build(st, parsed, plan.Options{}); len(p.Ops) != 0 {
		t.Errorf("plan: %s %v", p.Summary(), p.Ops)
	}

	cut := st.PFs[0]
	cut.VFInfoTruncated = true
	if _, _, err := export.Export([]sriov.PF{cut}, export.Options{}); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("truncated VF list: err = %v", err)
	}
}

func newLab(t *testing.T, nics []lab.NIC) *lab.Lab {
	t.Helper()
	l, err := lab.Init(filepath.Join(t.TempDir(), "lab"), nics)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func observe(t *testing.T, l *lab.Lab) *sriov.Host {
	t.Helper()
	st, err := l.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestExportTrustedIGBMACNote: the note for an admin MAC that has not reached a trusted VF's netdev says
// what a plan naming it would do there: write the netdev's address, not reload igbvf.
func TestExportTrustedIGBMACNote(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, []lab.NIC{{Name: "ens5f0", Profile: "igb"}})
	if err := l.SetNumVFs(ctx, "ens5f0", 2); err != nil {
		t.Fatal(err)
	}
	for id, trusted := range []bool{false, true} {
		if err := errors.Join(l.SetVFTrust(ctx, "ens5f0", id, trusted), l.SetVFMAC(ctx, "ens5f0", id, fmt.Sprintf("02:00:00:00:00:1%d", id))); err != nil {
			t.Fatal(err)
		}
	}
	_, notes, err := export.Export(observe(t, l).PFs, export.Options{})
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	for _, n := range notes {
		text += n.String() + "\n"
	}
	for _, want := range []string{"vf 0: admin MAC 02:00:00:00:00:10 has not reached the VF's netdev (which carries ",
		"naming it makes the plan reload igbvf", "vf 1: admin MAC 02:00:00:00:00:11 has not reached",
		"naming it makes the plan write it as the netdev's own address (the VF is trusted)"} {
		if !strings.Contains(text, want) {
			t.Errorf("notes lack %q:\n%s", want, text)
		}
	}
}
