package service

import (
	"context"
	"fmt"

	"github.com/sriovctl/sriovctl/internal/ledger"
)

// ledgerRecords reads every ledger record without writing anything (ledger.OpenReadOnly: a shared lock,
// nothing created, readable by a user who may only read the state directory). The wait for a pool
// command's session ends with ctx or after Options.ReadWait. A missing ledger means no VF is assigned; a
// damaged one is an error naming the file, never an empty ledger.
func (s *Service) ledgerRecords(ctx context.Context) ([]ledger.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadWait)
	defer cancel()
	l, err := ledger.OpenReadOnly(ctx, s.dir)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (another sriovctl command held the ledger for %s)", err, s.opts.ReadWait)
		}
		return nil, err
	}
	defer l.Close()
	return l.All()
}
