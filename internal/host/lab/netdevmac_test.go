package lab

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/sriovctl/sriovctl/internal/host"
)

// TestSetVFNetdevMAC: the lab answers a VF netdev's own address write as igb and igbvf do (observed in
// the guest, docs/kernel-backend.md): refused for an untrusted VF with an admin MAC, taken from a trusted
// one (and then reported as its admin MAC), and only where the VF has a netdev.
func TestSetVFNetdevMAC(t *testing.T) {
	ctx := context.Background()
	const mac = "02:00:00:00:00:07"
	tests := []struct {
		name  string
		setup func(l *Lab) error
		errno syscall.Errno
	}{
		{"untrusted, no admin MAC", nil, 0},
		{"untrusted with an admin MAC", func(l *Lab) error { return l.SetVFMAC(ctx, "igb0", 0, "02:00:00:00:00:05") }, syscall.EADDRNOTAVAIL},
		{"trusted with an admin MAC", func(l *Lab) error {
			return errors.Join(l.SetVFTrust(ctx, "igb0", 0, true), l.SetVFMAC(ctx, "igb0", 0, "02:00:00:00:00:05"))
		}, 0},
		{"no netdev (vfio-pci)", func(l *Lab) error { return l.BindVF(ctx, "igb0", 0, "vfio-pci") }, syscall.ENODEV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, NIC{Name: "igb0", Profile: "igb"}, NIC{Name: "ice0", Profile: "ice"})
			if err := l.SetNumVFs(ctx, "igb0", 2); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				if err := tt.setup(l); err != nil {
					t.Fatal(err)
				}
			}
			before := pfOf(t, l, "igb0").VFs[0]
			err := l.SetVFNetdevMAC(ctx, "igb0", 0, mac)
			after := pfOf(t, l, "igb0").VFs[0]
			if tt.errno != 0 {
				if !errors.Is(err, tt.errno) {
					t.Fatalf("error %v, want %v", err, tt.errno)
				}
				if after.NetdevMAC != before.NetdevMAC || after.MAC != before.MAC {
					t.Fatalf("a refused write changed the VF: %+v -> %+v", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if after.NetdevMAC != mac || after.MAC != mac {
				t.Fatalf("netdev MAC %s, admin MAC %s: want both %s", after.NetdevMAC, after.MAC, mac)
			}
		})
	}
	l := newLab(t, NIC{Name: "ice0", Profile: "ice"})
	if err := l.SetNumVFs(ctx, "ice0", 1); err != nil {
		t.Fatal(err)
	}
	if err := l.SetVFNetdevMAC(ctx, "ice0", 0, mac); !errors.Is(err, host.ErrNotSupported) {
		t.Fatalf("ice (not modelled): %v, want not supported", err)
	}
}
