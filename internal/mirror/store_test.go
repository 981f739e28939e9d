package mirror

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/statefile"
)

// TestDamagedStoreIsAnErrorNotEmpty: a damaged mirrors.json is never read as "no groups": List, Get and
// every write fail naming the file, and the file is left as it was.
func TestDamagedStoreIsAnErrorNotEmpty(t *testing.T) {
	dir := t.TempDir()
	st := OpenStore(dir)
	if err := st.Put(Group{Name: "g", PF: "eth0", VFs: []int{1, 2}}); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content string
	}{
		{"zero-length", ""},
		{"truncated", string(good[:len(good)/2])},
		{"truncated by one byte", string(good[:len(good)-2])},
		{"garbage", "\x00\x01not json"},
		{"no version", "{}"},
		{"trailing data", string(good) + "{}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(st.Path(), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			want := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), st.Path()) || !strings.Contains(err.Error(), "move it away") {
					t.Fatalf("%s: %v; want an error naming %s and the way back", what, err, st.Path())
				}
			}
			groups, err := st.List()
			want("List", err)
			if groups != nil {
				t.Fatalf("List returned %v with the error", groups)
			}
			_, err = st.Get("g")
			want("Get", err)
			want("Put", st.Put(Group{Name: "h"}))
			want("Remove", st.Remove("g"))
			if after, _ := os.ReadFile(st.Path()); string(after) != tc.content {
				t.Fatal("the damaged file was changed")
			}
		})
	}
}

func TestStoreSymlinkIsRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "precious")
	body := `{"version":1,"groups":[]}`
	if err := os.WriteFile(target, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	st := OpenStore(dir)
	if err := os.Symlink(target, st.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.List(); !errors.Is(err, statefile.ErrUntrusted) {
		t.Fatalf("List through a link: %v", err)
	}
	if err := st.Put(Group{Name: "g"}); !errors.Is(err, statefile.ErrUntrusted) {
		t.Fatalf("Put through a link: %v", err)
	}
	if data, _ := os.ReadFile(target); string(data) != body {
		t.Fatal("the link's target was changed")
	}
}
