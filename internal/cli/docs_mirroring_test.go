package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
	"github.com/sriovctl/sriovctl/internal/host/lab"
)

// docExample is one policy example of docs/mirroring.md with the trace lines it shows.
type docExample struct {
	name    string
	nics    []string // --nic specs
	eswitch map[string]string
	policy  string
	traces  []docTrace
}

type docTrace struct {
	args []string
	want []string // the verdict and receivers lines
}

var exampleHeader = regexp.MustCompile(`^# example: (\S+) \(lab: ([^;)]+)(?:; eswitch ([^)]+))?\)$`)

func loadDocExamples(t *testing.T) []docExample {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "mirroring.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []docExample
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```yaml" || i+1 >= len(lines) {
			continue
		}
		m := exampleHeader.FindStringSubmatch(lines[i+1])
		if m == nil {
			continue
		}
		ex := docExample{name: m[1], eswitch: map[string]string{}}
		for _, n := range strings.Split(m[2], ",") {
			ex.nics = append(ex.nics, strings.TrimSpace(n))
		}
		if m[3] != "" {
			pf, mode, _ := strings.Cut(strings.TrimSpace(m[3]), "=")
			ex.eswitch[pf] = mode
		}
		j := i + 1
		var pol []string
		for ; j < len(lines) && lines[j] != "```"; j++ {
			pol = append(pol, lines[j])
		}
		ex.policy = strings.Join(pol, "\n") + "\n"
		for j++; j < len(lines) && lines[j] != "```console"; j++ {
		}
		for j++; j < len(lines) && lines[j] != "```"; j++ {
			if cmd, ok := strings.CutPrefix(lines[j], "$ sriovctl "); ok {
				ex.traces = append(ex.traces, docTrace{args: strings.Fields(cmd)})
			} else if n := len(ex.traces); n > 0 {
				ex.traces[n-1].want = append(ex.traces[n-1].want, lines[j])
			}
		}
		out = append(out, ex)
		i = j
	}
	return out
}

// TestDocsMirroringExamples applies every policy example of docs/mirroring.md to a fresh lab and checks
// that trace predicts what the document shows.
func TestDocsMirroringExamples(t *testing.T) {
	examples := loadDocExamples(t)
	if len(examples) < 4 {
		t.Fatalf("found %d examples in docs/mirroring.md, want at least 4", len(examples))
	}
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			dir := clitest.NewLab(t, ex.nics...)
			if len(ex.eswitch) > 0 {
				l, err := lab.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				for pf, mode := range ex.eswitch {
					if err := l.SetEswitchMode(context.Background(), pf, mode); err != nil {
						t.Fatal(err)
					}
				}
			}
			pol := filepath.Join(t.TempDir(), "policy.yaml")
			writeFile(t, pol, ex.policy)
			clitest.MustRun(t, "--lab", dir, "apply", "-f", pol, "--yes")
			if len(ex.traces) == 0 {
				t.Fatal("example shows no trace")
			}
			for _, tr := range ex.traces {
				r := clitest.MustRun(t, append([]string{"--lab", dir}, tr.args...)...)
				var got []string
				for _, l := range strings.Split(r.Stdout, "\n") {
					if strings.HasPrefix(l, "verdict:") || strings.HasPrefix(l, "receivers:") {
						got = append(got, l)
					}
				}
				if strings.Join(got, "\n") != strings.Join(tr.want, "\n") {
					t.Errorf("sriovctl %s:\ngot:\n%s\ndocs/mirroring.md shows:\n%s", strings.Join(tr.args, " "), strings.Join(got, "\n"), strings.Join(tr.want, "\n"))
				}
			}
		})
	}
}
