package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sriovctl/sriovctl/internal/ledger"
)

// ledgerRecords reads every ledger record without writing anything: no lock file, no state directory
// and no database is created, and a reader that may only read the state directory can read it. bbolt's
// shared lock on the file excludes only a pool command in the middle of its session; the wait for it
// ends with ctx or after Options.ReadWait. No ledger file means no VF is assigned.
//
// It stands in for ledger.OpenReadOnly (being added to package ledger): switch to it once merged.
func (s *Service) ledgerRecords(ctx context.Context) ([]ledger.Record, error) {
	path := filepath.Join(s.dir, ledger.DBFile)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("ledger %s: the file is empty (damaged): refusing to treat it as a ledger without assignments", path)
	}
	wait := s.opts.ReadWait
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = time.Until(dl)
	}
	if wait <= 0 {
		return nil, fmt.Errorf("ledger %s: %w", path, context.DeadlineExceeded)
	}
	type result struct {
		recs []ledger.Record
		err  error
	}
	done := make(chan result, 1)
	go func() {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: wait})
		if err != nil {
			if errors.Is(err, bolt.ErrTimeout) {
				err = fmt.Errorf("still held by another sriovctl command after %s", wait)
			}
			done <- result{err: err}
			return
		}
		defer db.Close()
		var out []ledger.Record
		err = db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("assignments"))
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				var r ledger.Record
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("corrupt record %s: %w", k, err)
				}
				if !bytes.Equal(k, r.Key()) {
					return fmt.Errorf("record under key %s names %s", k, r.Key())
				}
				out = append(out, r)
				return nil
			})
		})
		done <- result{recs: out, err: err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("ledger %s: %w", path, r.err)
		}
		return r.recs, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("ledger %s: waiting to read it: %w", path, ctx.Err())
	}
}
