package cli

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildInfoFrom(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-11-30T08:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	cases := []struct {
		name           string
		bi             *debug.BuildInfo
		ver, rev, date string
		want           BuildInfo
	}{
		{"plain build", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "", "", "",
			BuildInfo{Version: "devel", Commit: "unknown", BuildDate: "unknown", GoVersion: "go1.26.8"}},
		{"go install module@version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, "", "", "",
			BuildInfo{Version: "v1.2.3", Commit: "unknown", BuildDate: "unknown", GoVersion: "go1.26.8"}},
		{"git checkout", vcs, "", "", "",
			BuildInfo{Version: "devel", Commit: "abc123", Modified: true, BuildDate: "2026-11-30T08:00:00Z", GoVersion: "go1.26.10"}},
		{"linker flags win", vcs, "v0.3.0", "def456", "2026-12-01T00:00:00Z",
			BuildInfo{Version: "v0.3.0", Commit: "def456", Modified: true, BuildDate: "2026-12-01T00:00:00Z", GoVersion: "go1.26.10"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := buildInfoFrom(c.bi, c.ver, c.rev, c.date)
			got.Platform = ""
			if got != c.want {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
	s := buildInfoFrom(vcs, "v0.3.0", "", "").String()
	if !strings.HasPrefix(s, "sriovctl v0.3.0\n") || !strings.Contains(s, "abc123 (modified)") || !strings.Contains(s, "go1.26.10") {
		t.Fatalf("text = %q", s)
	}
}
