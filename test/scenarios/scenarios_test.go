package scenarios

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/sriovctl/sriovctl/internal/applytest"

	"github.com/sriovctl/sriovctl/internal/cli"
	"github.com/sriovctl/sriovctl/internal/host/lab"
)

var update = flag.Bool("update", false, "rewrite each scenario's .final.json from the lab's final state")

// LabEnv is an Env on a fresh lab with one PF named pf of the given profile, running sriovctl in-process.
func labEnv(t *testing.T, pf, profile string) Env {
	dir := filepath.Join(t.TempDir(), "lab")
	l, err := lab.Init(dir, []lab.NIC{{Name: pf, Profile: profile}})
	if err != nil {
		t.Fatal(err)
	}
	return Env{
		PF:   pf,
		Host: l,
		Run: func(ctx context.Context, args ...string) (string, string, int) {
			var out, errb bytes.Buffer
			code := cli.Run(ctx, append([]string{"--lab", dir}, args...), nil, &out, &errb)
			return out.String(), errb.String(), code
		},
	}
}

// TestScenariosOnLab holds the lab's profiles (igb, netdevsim) to the scenario files; the QEMU guest holds
// the real drivers to the same files (test/vm/guest).
func TestScenariosOnLab(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			steps, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			env := labEnv(t, "eth0", Profile(name))
			ctx := context.Background()
			for _, s := range steps {
				if got, detail := env.Do(ctx, s); got != s.Want {
					t.Errorf("%s:%d: %s: got %s, want %s (%s)", name, s.Line, s.Text, got, s.Want, detail)
				}
			}
			out, _, code := env.Run(ctx, "show", "--json")
			if code != 0 {
				t.Fatal("show failed")
			}
			got, err := Normalize(out, MACs(steps))
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(FinalFile(name), []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := Final(name)
			if err != nil {
				t.Fatalf("%v (create it with go test -run TestScenariosOnLab -update)", err)
			}
			if got != want {
				t.Errorf("final state differs from %s:\n%s", FinalFile(name), applytest.Diff(got, want))
			}
		})
	}
}

func TestLoadRejectsBadOutcome(t *testing.T) {
	for _, n := range Names() {
		if _, err := Load(n); err != nil {
			t.Error(err)
		}
	}
}
