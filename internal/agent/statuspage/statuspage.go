// Package statuspage renders the agent's status page: server-side HTML (html/template) with embedded
// assets and no JavaScript, refreshing itself every few seconds. One table per PF with its VFs, their
// owners and drift marked, the mirror groups, the recent events and the agent's state.
package statuspage

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/mirror"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

//go:embed page.html.tmpl assets
var files embed.FS

// page is parsed on first use, not at init: every sriovctl command links this package (the agent
// command), few serve the page.
var page = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return time.Since(t).Round(time.Second).String() + " ago"
		},
		"ts": func(t time.Time) string { return t.Format("15:04:05") },
	}).ParseFS(files, "page.html.tmpl"))
})

// Source is what the page shows: the agent.
type Source interface {
	Snapshot() agent.Snapshot
	Events() *agent.Ring
}

// Refresh is how often the page reloads itself.
const Refresh = 5

type vfRow struct {
	sriov.VF
	Owner, Pool string
	Drifted     bool
	Assignment  string
}

type pfTable struct {
	sriov.PF
	Drifted bool
	Rows    []vfRow
}

type view struct {
	Refresh int
	Snap    agent.Snapshot
	InSync  bool
	Desired string
	PFs     []pfTable
	Mirrors []mirror.Group
	Events  []agent.Event
	Plan    []string
}

// Handler serves the page on / and its assets under /assets/.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(files, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := page().Execute(&buf, build(src)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		b, _ := files.ReadFile("assets/favicon.svg")
		w.Write(b)
	})
	return mux
}

func build(src Source) view {
	s := src.Snapshot()
	v := view{Refresh: Refresh, Snap: s, InSync: true}
	ev := src.Events().Since(0)
	slices.Reverse(ev)
	v.Events = ev[:min(len(ev), 25)]
	d := s.Drift
	if d == nil || d.Observed == nil {
		return v
	}
	v.InSync = d.InSync()
	if d.Desired != nil {
		v.Desired = d.Desired.Origin
	}
	if d.Plan != nil {
		for _, o := range d.Plan.Ops {
			mark := ""
			if o.Disruptive {
				mark = " (DISRUPTIVE)"
			}
			v.Plan = append(v.Plan, o.Describe()+mark)
		}
		for _, p := range d.Plan.Problems {
			v.Plan = append(v.Plan, "problem: "+p.String())
		}
	}
	v.Mirrors = d.Mirrors
	held := map[string]map[int]agent.Assignment{}
	for _, a := range d.Assignments {
		if held[a.PFAddress] == nil {
			held[a.PFAddress] = map[int]agent.Assignment{}
		}
		held[a.PFAddress][a.VF] = a
	}
	drifted := d.DriftedVFs()
	for _, pf := range d.Observed.PFs {
		t := pfTable{PF: pf, Drifted: len(drifted[pf.Name]) > 0}
		for _, vf := range pf.VFs {
			a := held[pf.PCIAddress][vf.ID]
			row := vfRow{VF: vf, Owner: a.Owner, Pool: a.Pool, Drifted: drifted[pf.Name][vf.ID]}
			if a.Record != (ledger.Record{}) && a.Host != "ok" {
				row.Drifted, row.Assignment = true, a.Host
			}
			t.Rows = append(t.Rows, row)
		}
		v.PFs = append(v.PFs, t)
	}
	return v
}
