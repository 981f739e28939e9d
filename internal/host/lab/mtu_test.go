package lab

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSetPFMTU(t *testing.T) {
	tests := []struct {
		profile, ref string
		mtu          int
		want         int // the MTU observed after
		errno        syscall.Errno
		detail       string
	}{
		{"igb", "p0", 9000, 9000, 0, ""},
		{"igb", "p0", 9216, 9216, 0, ""},
		{"igb", "p0", 9217, 1500, syscall.EINVAL, "mtu greater than device maximum"},
		{"igb", "p0", 67, 1500, syscall.EINVAL, "mtu less than device minimum"},
		{"igb", "p0", 1500, 1500, 0, ""},
		{"mlx5", "p0", 9978, 9978, 0, ""},
		{"ice", "p0", 9703, 1500, syscall.EINVAL, "mtu greater than device maximum"},
		{"netdevsim", "p0", 65535, 65535, 0, ""},
		{"igb", "nope", 9000, 1500, syscall.ENODEV, ""},
	}
	for _, tt := range tests {
		t.Run(tt.profile+"/"+tt.ref, func(t *testing.T) {
			ctx := context.Background()
			l, err := Init(filepath.Join(t.TempDir(), "lab"), []NIC{{Name: "p0", Profile: tt.profile}})
			if err != nil {
				t.Fatal(err)
			}
			err = l.SetPFMTU(ctx, tt.ref, tt.mtu)
			if tt.errno == 0 && err != nil || tt.errno != 0 && (!errors.Is(err, tt.errno) || !strings.Contains(err.Error(), tt.detail)) {
				t.Fatalf("SetPFMTU(%d) = %v, want errno %v %q", tt.mtu, err, tt.errno, tt.detail)
			}
			st, err := l.Observe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.FindPF("p0").MTU; got != tt.want {
				t.Fatalf("MTU %d, want %d", got, tt.want)
			}
		})
	}
}

// TestMTUAfterReset: a reboot or a driver reload brings the PF netdev back with the default MTU.
func TestMTUAfterReset(t *testing.T) {
	ctx := context.Background()
	for _, reset := range []string{"reboot", "reset"} {
		l, err := Init(filepath.Join(t.TempDir(), "lab"), []NIC{{Name: "p0", Profile: "ice"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetPFMTU(ctx, "p0", 9000); err != nil {
			t.Fatal(err)
		}
		if reset == "reboot" {
			err = l.Reboot()
		} else {
			err = l.ResetPF(ctx, "p0")
		}
		if err != nil {
			t.Fatal(err)
		}
		st, _ := l.Observe(ctx)
		if got := st.FindPF("p0").MTU; got != DefaultMTU {
			t.Errorf("after %s: MTU %d, want %d", reset, got, DefaultMTU)
		}
	}
}
