package mirror

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func newLab(t *testing.T, profile string, numVFs int) *lab.Lab {
	t.Helper()
	l, err := lab.Init(filepath.Join(t.TempDir(), "lab"), []lab.NIC{{Name: "eth0", Profile: profile}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetNumVFs(context.Background(), "eth0", numVFs); err != nil {
		t.Fatal(err)
	}
	return l
}

func observe(t *testing.T, l *lab.Lab) *sriov.PF {
	t.Helper()
	st, err := l.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &st.PFs[0]
}

// lyingHost accepts MAC writes without doing them: the post-apply check must catch it and roll back.
// lyingHost is a NIC that silently ignores a shared MAC: it accepts every MAC write but keeps only
// clears (00:00:00:00:00:00), so undo can still clear what the driver's rebind reported.
type lyingHost struct{ *lab.Lab }

func (h lyingHost) SetVFMAC(ctx context.Context, pf string, vf int, mac string) error {
	if mac == sriov.ZeroMAC {
		return h.Lab.SetVFMAC(ctx, pf, vf, mac)
	}
	return nil
}

func TestCreateFailsAndRollsBackWhenCheckFails(t *testing.T) {
	l := newLab(t, "igb", 3)
	before := observe(t, l)
	st := OpenStore(t.TempDir())
	_, err := Create(context.Background(), lyingHost{l}, st, Request{Name: "m", PF: "eth0", VFs: []int{0, 1}, MAC: "02:00:00:00:00:aa"}, nil)
	var ce *CheckError
	if !errors.As(err, &ce) || !reflect.DeepEqual(ce.Missing, []int{0, 1}) || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("err %v: want a CheckError naming VFs 0,1 and a restored host", err)
	}
	after := observe(t, l)
	for i := range before.VFs {
		if before.VFs[i].VFConfig != after.VFs[i].VFConfig {
			t.Fatalf("VF %d not restored: %+v -> %+v", i, before.VFs[i].VFConfig, after.VFs[i].VFConfig)
		}
	}
	if groups, _ := st.List(); len(groups) != 0 {
		t.Fatalf("record left: %+v", groups)
	}
}

func TestPlanSameMACProfileSteps(t *testing.T) {
	l := newLab(t, "ice", 3)
	pf := observe(t, l)
	prof := *nicprofile.ForDriver("ice")
	prof.SameMACNeedsTrust, prof.SameMACReset = true, true
	plan, err := PlanCreate(pf, &prof, Request{Name: "m", PF: "eth0", VFs: []int{2, 0}, MAC: "02:00:00:00:00:aa"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range plan.Ops {
		got = append(got, o.Describe())
	}
	want := []string{
		"eth0 vf 0: spoofchk on -> off", "eth0 vf 0: trust off -> on",
		"eth0 vf 2: spoofchk on -> off", "eth0 vf 2: trust off -> on",
		"eth0 vf 0: mac 00:00:00:00:00:00 -> 02:00:00:00:00:aa", "eth0 vf 2: mac 00:00:00:00:00:00 -> 02:00:00:00:00:aa",
		"eth0 vf 0: mac 02:00:00:00:00:aa (unchanged, written again)", "eth0 vf 2: mac 02:00:00:00:00:aa (unchanged, written again)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !reflect.DeepEqual(plan.Group.VFs, []int{0, 2}) || plan.Prediction.Verdict != "delivered" || len(Missing(plan.Prediction, plan.Group)) != 0 {
		t.Fatalf("group %+v prediction %+v", plan.Group, plan.Prediction)
	}
	if _, err := change.Run(context.Background(), l, plan.Ops, change.Hooks{}); err != nil {
		t.Fatal(err)
	}
}

func TestPlanMACDefaults(t *testing.T) {
	l := newLab(t, "igb", 3)
	pf := observe(t, l)
	plan, err := PlanCreate(pf, nil, Request{Name: "m", PF: "eth0", VFs: []int{1, 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Group.MAC != DerivedMAC("eth0", "m") || sriov.IsMulticast(plan.Group.MAC) {
		t.Fatalf("MAC %s, want the derived unicast MAC", plan.Group.MAC)
	}
	if _, err := sriov.ParseMAC("mac", plan.Group.MAC); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		profile, mode, strategy, want, refusal string
	}{
		{"igb", "", "auto", StrategySameMAC, ""},
		{"ice", "legacy", "auto", StrategySameMAC, ""},
		{"ice", "switchdev", "auto", StrategySwitchdevTC, ""},
		{"mlx5", "legacy", "auto", "", "EEXIST"},
		{"mlx5", "legacy", "switchdev-tc", "", "devlink dev eswitch set"},
		{"mlx5", "switchdev", "same-mac", "", "use --strategy switchdev-tc"},
		{"ixgbe", "", "auto", "", "hardware-defined"},
		{"i40e", "", "switchdev-tc", "", "no switchdev mode"},
		{"igb", "", "switchdev-tc", "", "no switchdev mode"},
	} {
		prof, _ := nicprofile.ByName(c.profile)
		pf := &sriov.PF{Name: "eth0", Driver: prof.Driver, EswitchMode: c.mode, PCIAddress: "0000:01:00.0"}
		got, err := Resolve(pf, prof, c.strategy)
		if c.refusal == "" {
			if err != nil || got != c.want {
				t.Errorf("%s %s %s: %q %v", c.profile, c.mode, c.strategy, got, err)
			}
			continue
		}
		if !IsRefused(err) || !strings.Contains(err.Error(), c.refusal) {
			t.Errorf("%s %s %s: %v, want a refusal mentioning %q", c.profile, c.mode, c.strategy, err, c.refusal)
		}
	}
}

func TestStoreConcurrentPuts(t *testing.T) {
	st := OpenStore(filepath.Join(t.TempDir(), "state"))
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := st.Put(Group{Name: string(rune('a' + i)), VFs: []int{i}}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	groups, err := st.List()
	if err != nil || len(groups) != 20 {
		t.Fatalf("%d groups, %v", len(groups), err)
	}
	if err := st.Remove("c"); err != nil {
		t.Fatal(err)
	}
	if g, _ := st.Get("c"); g != nil {
		t.Fatal("c still there")
	}
}

// TestDeleteOnIgbRestoresClearAdminMAC: members that had no admin MAC before the group have none after
// mirror delete, although igb reports igbvf's own MAC once the VF driver is reloaded.
func TestDeleteOnIgbRestoresClearAdminMAC(t *testing.T) {
	l := newLab(t, "igb", 3)
	before := observe(t, l)
	st := OpenStore(t.TempDir())
	h := l // the lab emulates igb reporting igbvf's MAC after a rebind (rebindReportsVfMac)
	if _, err := Create(context.Background(), h, st, Request{Name: "m", PF: "eth0", VFs: []int{0, 1}, MAC: "02:00:00:00:00:aa"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Delete(context.Background(), h, st, "m", nil); err != nil {
		t.Fatal(err)
	}
	after := observe(t, l)
	for i := range before.VFs {
		if before.VFs[i].VFConfig != after.VFs[i].VFConfig {
			t.Fatalf("VF %d not restored by mirror delete: %+v -> %+v", i, before.VFs[i].VFConfig, after.VFs[i].VFConfig)
		}
	}
}
