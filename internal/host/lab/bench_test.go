package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// benchLab is a lab of pfs ice PFs (256 VFs possible each) with vfs VFs on each.
func benchLab(b *testing.B, pfs, vfs int) *Lab {
	b.Helper()
	var nics []NIC
	for p := range pfs {
		nics = append(nics, NIC{Name: fmt.Sprintf("ice%d", p), Profile: "ice", TotalVFs: 256})
	}
	l, err := Init(filepath.Join(b.TempDir(), "lab"), nics)
	if err != nil {
		b.Fatal(err)
	}
	for p := range pfs {
		if err := l.SetNumVFs(context.Background(), fmt.Sprintf("ice%d", p), vfs); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// BenchmarkLabWrite is one mutating lab operation (a VF's VLAN) on labs of growing size: its cost must
// not grow with the host (issue 16: the lab.json format rewrote the whole lab on every write).
func BenchmarkLabWrite(b *testing.B) {
	ctx := context.Background()
	for _, pfs := range []int{1, 16} {
		for _, vfs := range []int{8, 256} {
			b.Run(fmt.Sprintf("vfs=%d", pfs*vfs), func(b *testing.B) {
				l := benchLab(b, pfs, vfs)
				b.ResetTimer()
				for i := range b.N {
					if err := l.SetVFVLAN(ctx, fmt.Sprintf("ice%d", i%pfs), i%vfs, 1+i%4000, 0, sriov.VLANProto8021Q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkLabObserve reads the whole lab once, as every command does.
func BenchmarkLabObserve(b *testing.B) {
	for _, pfs := range []int{1, 16} {
		b.Run(fmt.Sprintf("vfs=%d", pfs*256), func(b *testing.B) {
			l := benchLab(b, pfs, 256)
			b.ResetTimer()
			for range b.N {
				if _, err := l.Observe(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
