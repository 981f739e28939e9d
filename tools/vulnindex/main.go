// Command vulnindex builds a local Go vulnerability database, in the layout `govulncheck -db file://DIR`
// reads, from the OSV files of the golang.org/x/vulndb module (its data/osv directory).
//
// It exists so CI does not have to `go run golang.org/x/vulndb/cmd/indexdb`, which compiles that module's
// large dependency tree (10-30 minutes on a fresh 2-core machine) for what is a few hundred lines of JSON
// reshaping. It is standard library only and writes what indexdb writes:
//
//	DIR/index/db.json      {"modified": newest "modified" of all entries}
//	DIR/index/modules.json one record per affected module path (sorted), each listing the entries that
//	                       affect it (sorted by ID, stable) with their "modified" and latest "fixed" version
//	DIR/index/vulns.json   one record per entry (sorted by ID): id, modified, aliases
//	DIR/ID/<ID>.json       each entry, compacted
//
// each also gzipped (level 9) beside it as FILE.gz. The entry files are the source files compacted rather
// than decoded and re-encoded, so fields added to the OSV schema by newer vulndb versions are kept.
//
// Usage: vulnindex -vulns MODDIR/data/osv -out DIR
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	vulns := flag.String("vulns", "", "directory of OSV JSON files (the vulndb module's data/osv)")
	out := flag.String("out", "", "directory to write the database to")
	flag.Parse()
	if *vulns == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: vulnindex -vulns DIR -out DIR (both required)")
		os.Exit(2)
	}
	if err := run(*vulns, *out); err != nil {
		fmt.Fprintln(os.Stderr, "vulnindex:", err)
		os.Exit(1)
	}
}

// entry holds the parts of an OSV entry the indexes need; raw is the file itself.
type entry struct {
	ID       string   `json:"id"`
	Modified osvTime  `json:"modified"`
	Aliases  []string `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges"`
	} `json:"affected"`
	raw []byte
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced"`
		Fixed      string `json:"fixed"`
	} `json:"events"`
}

// osvTime is an RFC 3339 time written back in UTC, as the OSV format (and indexdb) requires.
type osvTime struct{ time.Time }

func (t osvTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

func (t *osvTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339, s)
	t.Time = v.UTC()
	return err
}

type moduleVuln struct {
	ID       string  `json:"id"`
	Modified osvTime `json:"modified"`
	Fixed    string  `json:"fixed,omitempty"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string   `json:"id"`
	Modified osvTime  `json:"modified"`
	Aliases  []string `json:"aliases,omitempty"`
}

// database is the three indexes and the entries, in the order they are written.
type database struct {
	db struct {
		Modified osvTime `json:"modified"`
	}
	modules []*module
	vulns   []vuln
	entries []*entry
}

func run(vulnsDir, outDir string) error {
	entries, err := load(vulnsDir)
	if err != nil {
		return err
	}
	db, err := index(entries)
	if err != nil {
		return err
	}
	return db.write(outDir)
}

// load reads every *.json file under dir (as indexdb does, skipping a legacy index.json), in lexical order.
func load(dir string) ([]*entry, error) {
	var entries []*entry
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "index.json" || filepath.Ext(path) != ".json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		e := &entry{}
		if err := json.Unmarshal(b, e); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if e.ID == "" {
			return fmt.Errorf("%s: no \"id\"", path)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		// json.Marshal (which indexdb writes with) escapes <, > and & inside strings; so do we.
		var h bytes.Buffer
		json.HTMLEscape(&h, c.Bytes())
		e.raw = h.Bytes()
		entries = append(entries, e)
		return nil
	})
	return entries, err
}

// index builds db.json, modules.json and vulns.json from the entries, in load order.
func index(entries []*entry) (*database, error) {
	db := &database{entries: entries}
	mods := map[string]*module{}
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.ID] {
			return nil, fmt.Errorf("id %q appears twice in database", e.ID)
		}
		seen[e.ID] = true
		db.vulns = append(db.vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		for _, a := range e.Affected {
			m := mods[a.Package.Name]
			if m == nil {
				m = &module{Path: a.Package.Name, Vulns: []moduleVuln{}}
				mods[m.Path] = m
				db.modules = append(db.modules, m)
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: latestFixed(a.Ranges)})
		}
		if e.Modified.After(db.db.Modified.Time) {
			db.db.Modified = e.Modified
		}
	}
	slices.SortStableFunc(db.modules, func(a, b *module) int { return strings.Compare(a.Path, b.Path) })
	for _, m := range db.modules {
		slices.SortStableFunc(m.Vulns, func(a, b moduleVuln) int { return strings.Compare(a.ID, b.ID) })
	}
	slices.SortStableFunc(db.vulns, func(a, b vuln) int { return strings.Compare(a.ID, b.ID) })
	return db, nil
}

// latestFixed is the highest "fixed" version of the SEMVER ranges, or "" when a range reintroduces the
// vulnerability after it (so no version is known to be unaffected). Same rule as vulndb's
// osvutils.LatestFixed, which govulncheck relies on to skip entries for modules at or above it.
func latestFixed(ranges []osvRange) string {
	var latest string
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && semverCompare(latest, e.Fixed) < 0 {
				latest = e.Fixed
			}
		}
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && semverCompare(latest, e.Introduced) < 0 {
				latest = ""
				break
			}
		}
	}
	return latest
}

func (db *database) write(dir string) error {
	indexDir, idDir := filepath.Join(dir, "index"), filepath.Join(dir, "ID")
	for _, d := range []string{indexDir, idDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for name, v := range map[string]any{"db.json": db.db, "modules.json": db.modules, "vulns.json": db.vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := writeWithGzip(filepath.Join(indexDir, name), b); err != nil {
			return err
		}
	}
	for _, e := range db.entries {
		if err := writeWithGzip(filepath.Join(idDir, e.ID+".json"), e.raw); err != nil {
			return err
		}
	}
	return nil
}

// writeWithGzip writes b to name and, gzipped at level 9 (as indexdb does), to name.gz.
func writeWithGzip(name string, b []byte) error {
	var z bytes.Buffer
	w, err := gzip.NewWriterLevel(&z, gzip.BestCompression)
	if err != nil {
		return err
	}
	_, werr := w.Write(b)
	if err := errors.Join(werr, w.Close()); err != nil {
		return err
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(name+".gz", z.Bytes(), 0o644)
}
