package cli

import (
	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/ledger"
)

func init() { register("ledger", newLedgerCmd) }

func newLedgerCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Maintain the assignment ledger (STATE/ledger.db)",
		Example: `  sriovctl ledger restore-backup
  sriovctl --state-dir /var/lib/sriovctl ledger restore-backup`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "restore-backup",
		Short: "Replace a damaged ledger with its last good copy (ledger.db.good)",
		Long: `Replace STATE/ledger.db with STATE/ledger.db.good, the copy written after each successful change
of the ledger. Use it when a command reports the ledger as damaged. The copy is checked first; the damaged
file is kept as ledger.db.damaged. The copy is normally as new as the ledger; after a power cut it can
be older, so run 'sriovctl assignments' afterwards and compare it with your VMs.`,
		Example: `  sriovctl ledger restore-backup
  sriovctl assignments          # then compare with the VMs that hold VFs`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := ledger.RestoreBackup(cmd.Context(), a.StateDir())
			if err != nil {
				return &OpError{What: "ledger restore-backup", Err: err}
			}
			if a.JSON {
				return a.PrintJSON(jsonout.LedgerRestore{Assignments: n})
			}
			a.Printf("ledger restored from its last good copy: %s\n", plural(n, "assignment"))
			return nil
		},
	})
	return cmd
}
