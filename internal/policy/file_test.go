package policy

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(regular, []byte("pfs: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"regular", regular, ""},
		{"symlink to a regular file", link, ""},
		{"missing", filepath.Join(dir, "nope.yaml"), "nope.yaml: no such file"},
		{"directory", dir, "not a regular file (a directory)"},
		{"fifo", fifo, "fifo: not a regular file (a FIFO)"},
		{"device", "/dev/zero", "/dev/zero: not a regular file (a character device)"},
		{"too big", big, "big.yaml: file is 4194305 bytes; at most 4194304 (4 MiB) allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				data, err := ReadFile(c.path)
				if err == nil && string(data) != "pfs: []\n" {
					t.Errorf("data = %q", data)
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("ReadFile(%s) blocked", c.path)
			}
			if c.want == "" {
				if err != nil {
					t.Fatalf("ReadFile: %v", err)
				}
				return
			}
			if _, ok := err.(*Error); !ok || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %T %v, want a *Error containing %q", err, err, c.want)
			}
		})
	}
}
