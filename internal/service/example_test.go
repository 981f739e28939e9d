package service_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/service"
)

// A second caller (the node agent) uses the service as the CLI does: apply a policy, see drift in
// Status, repair it with Restore. Results are structured; nothing is printed by the service.
func Example() {
	dir, _ := os.MkdirTemp("", "sriovctl-example-")
	defer os.RemoveAll(dir)
	l, _ := lab.Init(filepath.Join(dir, "lab"), []lab.NIC{{Name: "eth0", Profile: "ice", TotalVFs: 8}})
	svc := service.New(l, filepath.Join(dir, "state"), service.Options{})
	ctx := context.Background()

	data := []byte("pfs: [{name: eth0, numVfs: 2, vfs: [{ids: \"1\", vlan: 100}]}]\n")
	pol, _ := policy.Parse("policy.yaml", data)
	res, err := svc.Apply(ctx, service.ApplyRequest{Data: data, Policy: pol})
	fmt.Println("apply:", res.Writes, "writes", err)

	l.SetVFVLAN(ctx, "eth0", 1, 7, 0, "802.1Q") // someone changes the VF behind our back
	st, _ := svc.Status(ctx)
	fmt.Println("in sync:", st.InSync, "drift:", st.Drift.Summary())

	res, err = svc.Restore(ctx, service.ApplyRequest{})
	fmt.Println("restore:", res.Writes, "writes", err)
	st, _ = svc.Status(ctx)
	fmt.Println("in sync:", st.InSync)
	// Output:
	// apply: 2 writes <nil>
	// in sync: false drift: 1 change (0 disruptive)
	// restore: 1 writes <nil>
	// in sync: true
}
