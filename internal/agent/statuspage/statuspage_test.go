package statuspage_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/agent/agenttest"
	"github.com/sriovctl/sriovctl/internal/agent/statuspage"
)

type source struct {
	snap agent.Snapshot
	ring *agent.Ring
}

func (s source) Snapshot() agent.Snapshot { return s.snap }
func (s source) Events() *agent.Ring      { return s.ring }

// page serves the status page of a lab where VF 1 of igb0 drifted and VF 2 is assigned to web1.
func page(t *testing.T) *httptest.Server {
	t.Helper()
	_, d := agenttest.Drifted(t)
	ring := agent.NewRing(10)
	ring.Add(agent.EventDrift, "drift: 1 change (0 disruptive)", []string{"igb0 vf 1: vlan 5 -> 100"})
	srv := httptest.NewServer(statuspage.Handler(source{snap: agent.Snapshot{Mode: "report", Drift: d, Observed: d.At, Pending: "report only"}, ring: ring}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var driftedRow = regexp.MustCompile(`<tr id="igb0-vf-1" class="drifted">`)

func TestPageHTML(t *testing.T) {
	srv := page(t)
	code, body := get(t, srv.URL+"/")
	if code != 200 {
		t.Fatalf("GET /: %d", code)
	}
	for _, want := range []string{`<meta http-equiv="refresh"`, `id="pf-igb0"`, `id="pf-ice0"`, "DRIFT", "web1", "igb0 vf 1: vlan 5 -&gt; 100", "report only"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !driftedRow.MatchString(body) || strings.Contains(body, `<tr id="igb0-vf-0" class="drifted">`) {
		t.Error("VF 1, and only it, should be marked drifted")
	}
	if strings.Contains(body, "<script") {
		t.Error("the page needs no JavaScript")
	}
	if code, css := get(t, srv.URL+"/assets/style.css"); code != 200 || !strings.Contains(css, "drifted") {
		t.Errorf("style.css: %d", code)
	}
	if t.Failed() {
		t.Log(body)
	}
}

// TestPageInChromium loads the page in headless Chromium: it renders with no console errors, shows the
// lab's PFs and marks the drifted VF; the screenshot is kept as a test artifact.
func TestPageInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("SRIOVCTL_REQUIRE_BROWSER") == "1" {
			t.Fatal("no chromium installed (apt-get install chromium)")
		}
		t.Skip("no chromium installed; set SRIOVCTL_REQUIRE_BROWSER=1 to fail instead")
	}
	srv := page(t)
	chromium := func(args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
			"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
		cmd := exec.CommandContext(ctx, bin, append(append(base, args...), srv.URL+"/")...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
		return out.String(), errb.String()
	}
	dom, logs := chromium("--dump-dom")
	for _, want := range []string{`id="pf-igb0"`, `id="pf-ice0"`, "web1"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if !driftedRow.MatchString(dom) {
		t.Error("the drifted VF is not marked in the rendered page")
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, ":CONSOLE") {
			t.Errorf("console message: %s", line)
		}
	}
	dir := os.Getenv("SRIOVCTL_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "sriovctl-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "agent-status-page.png")
	os.Remove(shot)
	chromium("--screenshot="+shot, "--window-size=1280,1400", "--hide-scrollbars")
	fi, err := os.Stat(shot)
	if err != nil || fi.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	b, _ := os.ReadFile(shot)
	if !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatal("screenshot is no PNG")
	}
	t.Logf("screenshot: %s", shot)
}
