package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/statefile"
)

// Progress output of the commands that write the host, on stderr:
//
//   - On a terminal, the write in flight is one status line, rewritten in place: "[3/49] ens5f0 vf 2: mac
//     ... -> ...", with "waiting for VFs 2/4" while VFs appear (the kernel backend counts them; elsewhere,
//     a VF count write that takes long says so with 0/N, as `lab fault --delay` makes it) and the time so
//     far once a write is slow. The line is erased before anything else is printed and when the write
//     returns, so it never mixes with the command's output.
//   - With -v, one line per write, before it is made, on a terminal or not.
//   - Elsewhere (a pipe, a file, CI) nothing per write: the output stays line-oriented, never a \r.
//   - Waiting for another command's lock is said once, with the holder's pid and command line (on a
//     terminal, or with -v).
//   - -q drops all of it, and the notes (a recovery done first...); warnings stay.

// slowWrite is how long a write runs before the status line says it is waiting and for how long.
const slowWrite = 300 * time.Millisecond

// tickEvery is how often the status line of a slow write is redrawn.
const tickEvery = 100 * time.Millisecond

// progress writes one command's progress to stderr. Its methods are safe for concurrent use (the
// interrupt handler prints through it too).
type progress struct {
	a     *App
	w     io.Writer
	tty   bool
	width func() int

	mu    sync.Mutex
	cur   string    // the write in flight, "[3/49] ..."; "" between writes
	op    change.Op // the write in flight
	since time.Time
	vfs   [2]int        // ready and total VFs the backend reported waiting for; total 0: no report
	shown string        // the status line on the screen, "" for none
	stop  chan struct{} // ends the redraw ticker of the write in flight
}

// progress returns the App's progress writer, made on first use (flags are parsed by then).
func (a *App) progress() *progress {
	a.progOnce.Do(func() {
		p := &progress{a: a, w: a.Stderr, width: func() int { return 0 }}
		if f, ok := a.Stderr.(*os.File); ok && isTTY(f) {
			p.tty = true
			p.width = func() int { return termWidth(f) }
		}
		a.prog = p
	})
	return a.prog
}

// trace is the change.Trace that reports each write of the running command.
func (p *progress) trace() *change.Trace {
	return &change.Trace{Before: p.before, After: p.after}
}

func (p *progress) quiet() bool   { return p.a.Quiet }
func (p *progress) verbose() bool { return p.a.Verbose && !p.a.Quiet }

func (p *progress) before(i, n int, o change.Op) {
	if p.quiet() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	text := fmt.Sprintf("[%d/%d] %s", i+1, n, o.Describe())
	if p.verbose() {
		p.clearLocked()
		fmt.Fprintln(p.w, text)
		text = ""
	}
	if !p.tty {
		return
	}
	p.cur, p.op, p.since, p.vfs = text, o, time.Now(), [2]int{}
	p.renderLocked()
	stop := make(chan struct{})
	p.stop = stop
	go func() {
		t := time.NewTicker(tickEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.mu.Lock()
				if p.stop == stop {
					p.renderLocked()
				}
				p.mu.Unlock()
			}
		}
	}()
}

func (p *progress) after(int, int, change.Op, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
	}
	p.cur, p.op, p.vfs = "", change.Op{}, [2]int{}
	p.clearLocked()
}

// vfWait is the kernel backend's report while it waits for VFs to appear: ready of total, or ready < 0
// when the wait ended in failure. Only terminals show it.
func (p *progress) vfWait(ready, total int) {
	if p.quiet() || !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ready < 0 {
		p.vfs = [2]int{}
		p.clearLocked()
		return
	}
	p.vfs = [2]int{ready, total}
	if p.since.IsZero() || p.stop == nil {
		p.since = time.Now() // a wait outside a traced write (no status line of its own)
	}
	p.renderLocked()
}

// note prints a service note ("note: recovered ...") or warning; -q drops notes, never warnings.
func (p *progress) note(kind, msg string) {
	if p.quiet() && kind != service.NoteWarning {
		return
	}
	p.println(noteLabel(kind) + ": " + msg)
}

// note prints "note: msg" on stderr, unless -q: what commands say besides their output goes through it,
// so that -q silences it and it never mixes with a status line.
func (a *App) note(msg string) { a.progress().note("", msg) }

// println prints one line on stderr, erasing the status line first and drawing it again after.
func (p *progress) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintln(p.w, s)
	p.renderLocked()
}

// waiting says, once, that the command waits for the state directory's lock, and for whom.
func (p *progress) waiting(stateDir string) {
	if p.quiet() || !p.tty && !p.verbose() {
		return
	}
	lock := filepath.Join(stateDir, apply.LockFile)
	who := "another sriovctl command that writes the host"
	if pid := statefile.HolderPID(lock); pid != "" {
		who = "pid " + pid
		if cmd := processCommand(pid); cmd != "" {
			who += " (" + cmd + ")"
		}
	}
	p.println(fmt.Sprintf("waiting for %s to finish: it holds the lock %s (Ctrl-C stops waiting)", who, lock))
}

// processCommand is the command line of process pid, from /proc ("" when it cannot be read).
func processCommand(pid string) string {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
	if err != nil {
		return ""
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) > 0 && args[0] != "" {
		args[0] = filepath.Base(args[0])
	}
	return oneLine(strings.Join(args, " "))
}

// finish erases a status line left on the terminal.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

// status is the status line: the write in flight, what it waits for, and for how long once slow.
func (p *progress) statusLocked() string {
	var parts []string
	if p.cur != "" {
		parts = append(parts, p.cur)
	}
	slow := !p.since.IsZero() && time.Since(p.since) >= slowWrite
	switch {
	case p.vfs[1] > 0:
		parts = append(parts, fmt.Sprintf("waiting for VFs %d/%d", p.vfs[0], p.vfs[1]))
	case slow && p.op.Kind == change.KindNumVFs && p.op.To.NumVFs > 0:
		parts = append(parts, fmt.Sprintf("waiting for VFs 0/%d", p.op.To.NumVFs))
	}
	if len(parts) == 0 {
		return ""
	}
	s := strings.Join(parts, ": ")
	if slow {
		s += fmt.Sprintf(" (%.1fs)", time.Since(p.since).Seconds())
	}
	return s
}

func (p *progress) renderLocked() {
	if !p.tty {
		return
	}
	s := p.statusLocked()
	if s == "" {
		p.clearLocked()
		return
	}
	// A line longer than the terminal wraps, and \r would then redraw only its last row.
	if w := p.width(); w > 1 {
		if r := []rune(s); len(r) > w-1 {
			s = string(r[:w-2]) + "…"
		}
	}
	if s != p.shown {
		fmt.Fprint(p.w, "\r\x1b[K"+s)
		p.shown = s
	}
}

func (p *progress) clearLocked() {
	if p.shown != "" {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = ""
	}
}
