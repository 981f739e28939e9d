package cli

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/service"
)

func init() { register("forget", newForgetCmd) }

// readPolicyDir reads DIR/*.yaml (and *.yml) in name order as one policy, like systemd's drop-ins: the
// same PF, pool or mirror group in two files is an input error naming both. It returns the combined
// policy rendered as one file (what apply stores) and parsed.
func readPolicyDir(dir string) ([]byte, *policy.Policy, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, usageErr("-f", err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && !strings.HasPrefix(n, ".") && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			files = append(files, filepath.Join(dir, n))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, nil, Usagef("-f", "%s holds no *.yaml policy file", dir)
	}
	pols := make([]*policy.Policy, len(files))
	for i, f := range files {
		if _, pols[i], err = readPolicy(f); err != nil {
			return nil, nil, err
		}
	}
	pol, err := service.CombinePolicies(files, pols)
	if err != nil {
		return nil, nil, err
	}
	data, err := service.EncodePolicy(pol)
	if err != nil {
		return nil, nil, err
	}
	return data, pol, nil
}

func newForgetCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "forget pf|pool|mirror NAME",
		Short: "Remove a PF, pool or mirror group from the stored desired state (the host is not touched)",
		Long: `The stored desired state is the merge of every policy applied: applying a file replaces the PFs (by PCI
address), pools and mirror groups it names and keeps the others. forget removes one of them, so that
restore and status no longer consider it; ` + "`apply --prune`" + ` replaces the whole state instead.`,
		Example: `  sriovctl forget pf ens2f0
  sriovctl forget pool vms`,
		Args: exactArgs(2, "pf|pool|mirror NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			left, err := svc.Forget(cmd.Context(), args[0], args[1])
			if err != nil {
				return opErr("forget", err)
			}
			if a.JSON {
				return a.PrintJSON(jsonout.Forget{Kind: args[0], Name: args[1], Desired: left})
			}
			a.Printf("forgot %s %s; the desired state keeps %s, %s, %s\n", args[0], args[1], plural(len(left.PFs), "PF"), plural(len(left.Pools), "pool"), plural(len(left.Mirrors), "mirror group"))
			return nil
		},
	}
}
