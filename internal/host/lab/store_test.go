package lab

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sriovctl/sriovctl/internal/eswitch"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func TestAfterWriteFault(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		errno     string
		op        func(l *Lab) error
		wantErrno syscall.Errno
		check     func(t *testing.T, p sriov.PF)
	}{
		{"numvfs written, VFs not confirmed", "", func(l *Lab) error { return l.SetNumVFs(ctx, "p0", 4) }, syscall.ETIMEDOUT,
			func(t *testing.T, p sriov.PF) {
				if p.NumVFs != 4 || len(p.VFs) != 4 {
					t.Fatalf("numvfs %d, %d VFs: the write must have taken effect", p.NumVFs, len(p.VFs))
				}
			}},
		{"bind written, netdev not confirmed", "EIO", func(l *Lab) error { return l.BindVF(ctx, "p0", 1, "vfio-pci") }, syscall.EIO,
			func(t *testing.T, p sriov.PF) {
				if p.VFs[1].Driver != "vfio-pci" {
					t.Fatalf("vf 1 driver %q: the bind must have taken effect", p.VFs[1].Driver)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, NIC{Name: "p0", Profile: "ice", TotalVFs: 8})
			if !strings.HasPrefix(c.name, "numvfs") {
				if err := l.SetNumVFs(ctx, "p0", 2); err != nil {
					t.Fatal(err)
				}
			}
			ops0, _ := l.MutatingOps()
			if err := l.SetFault(FaultConfig{FailAt: 1, Errno: c.errno, AfterWrite: true}); err != nil {
				t.Fatal(err)
			}
			err := c.op(l)
			if err == nil {
				t.Fatal("want an error")
			}
			if got := host.OutcomeOf(err); got != host.Unconfirmed {
				t.Fatalf("outcome %v of %v, want %v", got, err, host.Unconfirmed)
			}
			if !errors.Is(err, c.wantErrno) || !strings.Contains(err.Error(), "written, then confirming it failed") {
				t.Fatalf("error %v: want %v and the wording", err, c.wantErrno)
			}
			c.check(t, pfOf(t, l, "p0"))
			if ops, _ := l.MutatingOps(); ops != ops0+1 {
				t.Fatalf("mutating ops %d -> %d: a written op counts", ops0, ops)
			}
			if fc, _ := l.Fault(); fc.FailAt != 0 || fc.AfterWrite {
				t.Fatalf("fault not used up: %+v", fc)
			}
		})
	}
}

// A refusal by the driver at the faulted operation wins: nothing written, and the fault is used up.
func TestAfterWriteFaultOnRefusedOp(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, NIC{Name: "p0", Profile: "igb"})
	if err := l.SetNumVFs(ctx, "p0", 2); err != nil {
		t.Fatal(err)
	}
	if err := l.SetFault(FaultConfig{FailAt: 1, AfterWrite: true}); err != nil {
		t.Fatal(err)
	}
	err := l.SetVFLinkState(ctx, "p0", 0, sriov.LinkStateDisable)
	if host.OutcomeOf(err) != host.NotWritten || !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("got %v (%v), want igb's EOPNOTSUPP, not written", err, host.OutcomeOf(err))
	}
	if fc, _ := l.Fault(); fc.FailAt != 0 {
		t.Fatalf("fault not used up: %+v", fc)
	}
	if err := l.SetVFTrust(ctx, "p0", 0, true); err != nil {
		t.Fatal(err)
	}
}

// A lab command waiting for the lab's lock stops when its context ends (Ctrl-C), and the lock it gave up
// on does not stay taken.
func TestLockWaitHonoursContext(t *testing.T) {
	l := newLab(t, NIC{Name: "p0", Profile: "ice", TotalVFs: 4})
	unlock, err := lockLab(context.Background(), l.Dir(), true)
	if err != nil {
		t.Fatal(err)
	}
	waits := map[string]func(ctx context.Context) error{
		"observe":  func(ctx context.Context) error { _, err := l.Observe(ctx); return err },
		"numvfs":   func(ctx context.Context) error { return l.SetNumVFs(ctx, "p0", 2) },
		"reboot":   func(ctx context.Context) error { return l.RebootContext(ctx) },
		"fault":    func(ctx context.Context) error { return l.SetFaultContext(ctx, FaultConfig{Delay: time.Millisecond}) },
		"reset":    func(ctx context.Context) error { return l.ResetPF(ctx, "p0") },
		"stats":    func(ctx context.Context) error { _, err := l.VFStats(ctx, "p0"); return err },
		"canceled": nil,
	}
	for name, wait := range waits {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if wait == nil {
				cancel()
				wait = func(ctx context.Context) error { return l.SetVFTrust(ctx, "p0", 0, true) }
			}
			start := time.Now()
			err := wait(ctx)
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want the context's error", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
	unlock()
	if err := l.SetNumVFs(context.Background(), "p0", 2); err != nil {
		t.Fatalf("after the holder let go, abandoned waits must not keep the lock: %v", err)
	}
	if n := pfOf(t, l, "p0").NumVFs; n != 2 {
		t.Fatalf("numvfs %d: a wait given up on must not have written", n)
	}
}

func TestMigrateLegacyLab(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// What `lab init` and two writes made before the lab moved to lab.db.
	legacy := `{"version":1,"pfs":[
	 {"name":"eth0","profile":"igb","pciAddress":"0000:01:00.0","totalVfs":7,"mac":"02:11:11:11:11:11","mtu":1500,"operState":"up","eswitchMode":"",
	  "vfs":[{"id":0,"driver":"igbvf","netdevMac":"02:aa:00:00:00:00","mac":"00:00:00:00:00:00","vlan":100,"qos":0,"vlanProto":"802.1Q","spoofchk":true,"trust":false,"linkState":"auto","minTxRateMbps":0,"maxTxRateMbps":0,"queryRss":false},
	         {"id":1,"driver":"vfio-pci","netdevMac":"02:aa:00:00:00:01","mac":"00:00:00:00:00:00","vlan":0,"qos":0,"vlanProto":"802.1Q","spoofchk":true,"trust":true,"linkState":"auto","minTxRateMbps":0,"maxTxRateMbps":0,"queryRss":false}]},
	 {"name":"eth1","profile":"mlx5","pciAddress":"0000:3b:00.0","totalVfs":16,"mac":"02:22:22:22:22:22","mtu":1500,"operState":"up","eswitchMode":"switchdev","vfs":null}],
	 "fault":{"failAt":3,"errno":"EBUSY"},"serial":2,"created":"2026-01-01T00:00:00Z","mutatingOps":7}`
	if err := os.WriteFile(filepath.Join(dir, legacyFile), []byte(legacy), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.Observe(context.Background()) // the first operation migrates
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lab.json still there after migration: %v", err)
	}
	if len(st.PFs) != 2 || st.PFs[0].Name != "eth0" || st.PFs[1].Name != "eth1" {
		t.Fatalf("PFs %s", st.PFNames())
	}
	p := st.PFs[0]
	if p.NumVFs != 2 || p.VFs[0].VLAN != 100 || p.VFs[0].Netdev != "eth0v0" || p.VFs[1].Driver != "vfio-pci" || !p.VFs[1].Trust {
		t.Fatalf("eth0 after migration: %+v", p)
	}
	if st.PFs[1].EswitchMode != "switchdev" || st.PFs[1].NumVFs != 0 {
		t.Fatalf("eth1 after migration: %+v", st.PFs[1])
	}
	if fc, _ := l.Fault(); fc.FailAt != 3 || fc.Errno != "EBUSY" {
		t.Fatalf("fault %+v", fc)
	}
	if n, _ := l.MutatingOps(); n != 7 {
		t.Fatalf("mutating ops %d", n)
	}
	if err := l.SetVFVLAN(context.Background(), "0000:01:00.0", 1, 200, 0, sriov.VLANProto8021Q); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatalf("reopen: %v", err)
	}
}

func TestOpenRefusesWhatIsNotALab(t *testing.T) {
	cases := map[string]struct {
		files map[string]string
		want  string
	}{
		"empty dir":                  {nil, "is not a lab"},
		"damaged lab.json":           {map[string]string{legacyFile: "{not json"}, "sriovctl lab init"},
		"future lab.json":            {map[string]string{legacyFile: `{"version":9}`}, "sriovctl lab init"},
		"lab.db not bbolt":           {map[string]string{dbFile: strings.Repeat("x", 8192)}, "sriovctl lab init"},
		"lab.db zero length":         {map[string]string{dbFile: ""}, "sriovctl lab init"},
		"lab.db of a newer sriovctl": {nil, "version"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if c.files == nil && name != "empty dir" {
				dir = newLab(t).Dir()
				setVersion(t, dir, "4")
			}
			for f, data := range c.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// A damaged lab.db is found when it is first read.
			l, err := Open(dir)
			if err == nil {
				_, err = l.Observe(context.Background())
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open: %v, want %q", err, c.want)
			}
		})
	}
}

// TestKill9LeavesConsistentLab kills a process writing to the lab at random moments: every time, the lab
// opens, its records agree (numvfs and VF records), and the next write works.
func TestKill9LeavesConsistentLab(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes")
	}
	l := newLab(t, NIC{Name: "p0", Profile: "ice", TotalVFs: 64})
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 8; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLabWriter$")
		cmd.Env = append(os.Environ(), "LAB_WRITER_DIR="+l.Dir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for the writer to make progress, so that the kill lands mid-stream.
		ops0, _ := l.MutatingOps()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if n, _ := l.MutatingOps(); n > ops0+3 {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("the writer made no progress")
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rng.Intn(20)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: the writer ended before the kill: %v", round, err)
		}
		other, err := Open(l.Dir())
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		p := pfOf(t, other, "p0") // Observe checks that numvfs and the VF records agree
		for _, v := range p.VFs {
			if v.VLAN != 0 && v.VLAN != v.ID+1 {
				t.Fatalf("round %d: vf %d vlan %d: a torn write", round, v.ID, v.VLAN)
			}
		}
		if err := other.SetVFTrust(ctx, "p0", 0, true); err != nil && p.NumVFs > 0 {
			t.Fatalf("round %d: write after the kill: %v", round, err)
		}
	}
}

// TestHelperLabWriter is the process TestKill9LeavesConsistentLab kills: it resizes p0 and sets each VF's
// VLAN to its id+1, forever.
func TestHelperLabWriter(t *testing.T) {
	dir := os.Getenv("LAB_WRITER_DIR")
	if dir == "" {
		t.Skip("helper process")
	}
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		if err := l.SetNumVFs(ctx, "p0", 0); err != nil {
			t.Fatal(err)
		}
		n := 8 + i%56
		if err := l.SetNumVFs(ctx, "p0", n); err != nil {
			t.Fatal(err)
		}
		for id := range n {
			if err := l.SetVFVLAN(ctx, "p0", id, id+1, 0, sriov.VLANProto8021Q); err != nil {
				t.Fatal(fmt.Errorf("vf %d: %w", id, err))
			}
		}
	}
}

func TestResetPF(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, NIC{Name: "p0", Profile: "mlx5", TotalVFs: 4}, NIC{Name: "p1", Profile: "ice", TotalVFs: 4})
	if err := l.SetEswitchMode(ctx, "p0", "switchdev"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"p0", "p1"} {
		if err := l.SetNumVFs(ctx, p, 3); err != nil {
			t.Fatal(err)
		}
	}
	ops0, _ := l.MutatingOps()
	gen0, _ := l.Generation(ctx)
	if _, err := l.SendTraffic(ctx, "p0", Traffic{Frame: eswitch.Frame{From: "wire", Dst: "ff:ff:ff:ff:ff:ff"}, Count: 1, Size: 64}); err != nil {
		t.Fatal(err)
	}
	if gen, _ := l.Generation(ctx); gen != gen0 {
		t.Fatalf("traffic changed the generation (%d -> %d): only host state does", gen0, gen)
	}
	if err := l.ResetPF(ctx, "p0"); err != nil {
		t.Fatal(err)
	}
	if gen, _ := l.Generation(ctx); gen == gen0 {
		t.Fatal("a PF reset left the generation as it was: a watcher would miss it")
	}
	if p := pfOf(t, l, "p0"); p.NumVFs != 0 || p.EswitchMode != "legacy" {
		t.Fatalf("p0 after reset: numvfs %d eswitch %s", p.NumVFs, p.EswitchMode)
	}
	if n := pfOf(t, l, "p1").NumVFs; n != 3 {
		t.Fatalf("p1 has %d VFs: a reset of p0 must leave it alone", n)
	}
	if ops, _ := l.MutatingOps(); ops != ops0 {
		t.Fatalf("a reset behind sriovctl's back counted as a sriovctl write (%d -> %d)", ops0, ops)
	}
	gen1, _ := l.Generation(ctx)
	if err := l.SetNumVFs(ctx, "p0", 1); err != nil {
		t.Fatal(err)
	}
	if gen, _ := l.Generation(ctx); gen == gen1 {
		t.Fatal("a write left the generation as it was")
	}
	if err := l.ResetPF(ctx, "nope"); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("reset of a missing PF: %v", err)
	}
}

// setVersion writes another store version into a lab, as a newer sriovctl would have.
func setVersion(t *testing.T, dir, v string) {
	t.Helper()
	withBolt(t, dir, func(b *bolt.Tx) error { return b.Bucket(bktLab).Put(keyVersion, []byte(v)) })
}

// withBolt runs fn in a write transaction on the lab's database, as another program would.
func withBolt(t *testing.T, dir string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, dbFile), 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}
