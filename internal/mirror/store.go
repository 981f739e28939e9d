package mirror

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sriovctl/sriovctl/internal/statefile"
)

// Store keeps mirror group records in DIR/mirrors.json (DIR is the CLI's state directory). Every change
// is a locked read-modify-write that replaces the file atomically, so concurrent sriovctl processes and
// crashes leave either the old or the new records.
type Store struct {
	dir string
}

const (
	storeFile    = "mirrors.json"
	storeLock    = "mirrors.lock"
	storeVersion = 1
)

type storeData struct {
	Version int     `json:"version"`
	Groups  []Group `json:"groups"`
}

// OpenStore returns the store in dir; the directory is created on the first write.
func OpenStore(dir string) *Store { return &Store{dir: dir} }

// Path is the records file.
func (s *Store) Path() string { return filepath.Join(s.dir, storeFile) }

// List returns every recorded group.
func (s *Store) List() ([]Group, error) {
	var out []Group
	err := s.locked(false, func(d *storeData) (bool, error) {
		out = d.Groups
		return false, nil
	})
	return out, err
}

// Get returns the group named name, or nil.
func (s *Store) Get(name string) (*Group, error) {
	groups, err := s.List()
	if err != nil {
		return nil, err
	}
	for i := range groups {
		if groups[i].Name == name {
			return &groups[i], nil
		}
	}
	return nil, nil
}

// Update runs fn on the records under the exclusive lock and saves what it leaves.
func (s *Store) Update(fn func(groups []Group) ([]Group, error)) error {
	return s.locked(true, func(d *storeData) (bool, error) {
		g, err := fn(d.Groups)
		if err != nil {
			return false, err
		}
		d.Groups = g
		return true, nil
	})
}

// Put adds or replaces the group with g's name.
func (s *Store) Put(g Group) error {
	return s.Update(func(groups []Group) ([]Group, error) {
		for i := range groups {
			if groups[i].Name == g.Name {
				groups[i] = g
				return groups, nil
			}
		}
		return append(groups, g), nil
	})
}

// Remove deletes the group named name (no error if it is absent).
func (s *Store) Remove(name string) error {
	return s.Update(func(groups []Group) ([]Group, error) {
		out := groups[:0]
		for _, g := range groups {
			if g.Name != name {
				out = append(out, g)
			}
		}
		return out, nil
	})
}

func (s *Store) locked(write bool, fn func(d *storeData) (bool, error)) error {
	if write {
		if err := statefile.EnsureDir(s.dir); err != nil {
			return fmt.Errorf("mirror records: %w", err)
		}
	} else if _, err := os.Lstat(s.Path()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var fnErr error
	err := statefile.WithLock(filepath.Join(s.dir, storeLock), write, func() error {
		fnErr = s.readModifyWrite(fn)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mirror records: %w", err)
	}
	return fnErr
}

// damaged says what is wrong with the records file and the way back; nothing was changed.
func (s *Store) damaged(why string, err error) error {
	return fmt.Errorf("mirror records %s: %s: %v; nothing was changed. Restore the file from a backup, or move it "+
		"away to forget every group made with `mirror create` (their VFs keep their settings: check them with `sriovctl show`)",
		s.Path(), why, err)
}

func (s *Store) readModifyWrite(fn func(d *storeData) (bool, error)) error {
	d := &storeData{Version: storeVersion}
	data, err := statefile.ReadFile(s.Path())
	switch {
	case err == nil:
		// A store is never empty once written, so an empty file is damage, not "no groups".
		d.Version = 0 // a file must say its version
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(d); err != nil {
			return s.damaged("corrupt or truncated", err)
		}
		if dec.More() {
			return s.damaged("corrupt", errors.New("data after the records"))
		}
		if d.Version == 0 {
			return s.damaged("corrupt", errors.New("no version"))
		}
		if d.Version != storeVersion {
			return fmt.Errorf("mirror records %s: version %d, this sriovctl reads %d", s.Path(), d.Version, storeVersion)
		}
	case errors.Is(err, statefile.ErrUntrusted):
		return fmt.Errorf("mirror records: %w", err)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mirror records: %w", err)
	}
	changed, err := fn(d)
	if err != nil || !changed {
		return err
	}
	if d.Groups == nil {
		d.Groups = []Group{}
	}
	data, err = json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return statefile.WriteAtomic(s.Path(), append(data, '\n'))
}
