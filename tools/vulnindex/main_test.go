package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two synthetic entries, indented as in the vulndb module. GO-2099-0002 affects two modules: for
// example.com/b it is reintroduced (1.10.0-rc.1) after its only fix (1.4.0), so no fixed version is
// known; for example.com/a the highest SEMVER fix is 0.10.0 (numeric order, not lexical; the 0.9.5
// reintroduction is below it) and the GIT range is ignored.
var synthetic = map[string]string{
	"GO-2099-0001.json": `{
  "schema_version": "1.3.1",
  "id": "GO-2099-0001",
  "modified": "2099-01-02T03:04:05Z",
  "aliases": ["CVE-2099-1"],
  "details": "a <b> & c",
  "affected": [
    {
      "package": {"name": "example.com/a", "ecosystem": "Go"},
      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.3"}]}]
    }
  ]
}
`,
	"GO-2099-0002.json": `{
  "id": "GO-2099-0002",
  "modified": "2099-03-01T01:00:00+02:00",
  "details": "",
  "affected": [
    {
      "package": {"name": "example.com/b"},
      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.4.0"}, {"introduced": "1.10.0-rc.1"}]}]
    },
    {
      "package": {"name": "example.com/a"},
      "ranges": [
        {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.9.0"}, {"introduced": "0.9.5"}, {"fixed": "0.10.0"}]},
        {"type": "GIT", "events": [{"introduced": "0"}, {"fixed": "9.9.9"}]}
      ]
    }
  ]
}
`,
	// A legacy index file and non-JSON files are not entries.
	"index.json": `not an entry`,
	"README.md":  `not an entry`,
}

func TestBuild(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	for name, body := range synthetic {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(src, out); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		// The newest "modified", in UTC.
		{"index/db.json", `{"modified":"2099-02-28T23:00:00Z"}`},
		{"index/modules.json", `[` +
			`{"path":"example.com/a","vulns":[` +
			`{"id":"GO-2099-0001","modified":"2099-01-02T03:04:05Z","fixed":"1.2.3"},` +
			`{"id":"GO-2099-0002","modified":"2099-02-28T23:00:00Z","fixed":"0.10.0"}]},` +
			`{"path":"example.com/b","vulns":[{"id":"GO-2099-0002","modified":"2099-02-28T23:00:00Z"}]}]`},
		{"index/vulns.json", `[` +
			`{"id":"GO-2099-0001","modified":"2099-01-02T03:04:05Z","aliases":["CVE-2099-1"]},` +
			`{"id":"GO-2099-0002","modified":"2099-02-28T23:00:00Z"}]`},
		// Entries are compacted and HTML-escaped as json.Marshal writes them, unknown fields kept.
		{"ID/GO-2099-0001.json", `{"schema_version":"1.3.1","id":"GO-2099-0001","modified":"2099-01-02T03:04:05Z",` +
			`"aliases":["CVE-2099-1"],"details":"a \u003cb\u003e \u0026 c","affected":[{"package":` +
			`{"name":"example.com/a","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.3"}]}]}]}`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(out, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			f, err := os.Open(filepath.Join(out, tc.file+".gz"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			z, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			if unz, err := io.ReadAll(z); err != nil || !bytes.Equal(unz, got) {
				t.Errorf("%s.gz: %q, %v; want the same bytes as %s", tc.file, unz, err, tc.file)
			}
		})
	}
	ids, _ := filepath.Glob(filepath.Join(out, "ID", "*"))
	if len(ids) != 4 {
		t.Errorf("ID/ has %d files, want 4 (2 entries, each with .gz): %v", len(ids), ids)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"duplicate id", map[string]string{
			"x.json": `{"id":"GO-1","modified":"2000-01-01T00:00:00Z","affected":[]}`,
			"y.json": `{"id":"GO-1","modified":"2000-01-01T00:00:00Z","affected":[]}`,
		}, `id "GO-1" appears twice`},
		{"bad time", map[string]string{"x.json": `{"id":"GO-1","modified":"yesterday"}`}, "x.json"},
		{"no id", map[string]string{"x.json": `{"modified":"2000-01-01T00:00:00Z"}`}, `x.json: no "id"`},
		{"not json", map[string]string{"x.json": `{`}, "x.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, out := t.TempDir(), filepath.Join(t.TempDir(), "db")
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := run(src, out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output directory written despite the error (stat: %v)", err)
			}
		})
	}
}

func TestSemverCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.2.3", "1.2.3", 0},
		{"1.2.3", "1.10.0", -1},
		{"0.10.0", "0.9.0", 1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-2", "1.0.0-10", -1},
		{"1.0.0-beta.11", "1.0.0-rc.1", -1},
		{"1.0.0+build", "1.0.0", 0},
		{"1", "1.0.0", 0},
		{"1.2", "1.2.0", 0},
		{"0.0.0-20260225185322-738bad662b20", "0.0.0", -1},
		// Invalid versions (the empty start value included) are below valid ones and equal to each other.
		{"", "0.0.1", -1},
		{"1.2.3", "", 1},
		{"", "bogus", 0},
		{"01.2.3", "0.0.0", -1},
		{"1.2-rc.1", "0.0.0", -1},
		{"1.2.3-01", "0.0.0", -1},
		{"v1.2.3", "0.0.0", -1},
	} {
		if got := semverCompare(tc.a, tc.b); got != tc.want {
			t.Errorf("semverCompare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
