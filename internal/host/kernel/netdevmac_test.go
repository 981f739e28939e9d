package kernel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// addressFake is fakeLinks that also sets netdev addresses (what SetVFNetdevMAC uses instead of the real
// netlink call).
type addressFake struct{ *fakeLinks }

func (l addressFake) SetAddress(ifindex int, mac net.HardwareAddr) error {
	return l.set(fmt.Sprintf("address %d %s", ifindex, mac))
}

func TestSetVFNetdevMAC(t *testing.T) {
	tests := []struct {
		name   string
		vf     int
		mac    string
		fail   error
		calls  []string
		errno  syscall.Errno
		detail string
	}{
		{"VF netdev by its ifindex", 1, "02:00:00:00:00:01", nil, []string{"address 101 02:00:00:00:00:01"}, 0, ""},
		{"the driver refuses", 1, "02:00:00:00:00:01", syscall.EADDRNOTAVAIL, []string{"address 101 02:00:00:00:00:01"}, syscall.EADDRNOTAVAIL, ""},
		{"VF without a netdev", 0, "02:00:00:00:00:01", nil, nil, syscall.ENODEV, "no netdev in this network namespace"},
		{"no such VF", 5, "02:00:00:00:00:01", nil, nil, syscall.ENODEV, "has no VF 5"},
		{"not a MAC", 1, "02:00:00:00:01", nil, nil, syscall.EINVAL, "not a MAC address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSysfs(t)
			f.addPF("eth0", "0000:01:00.0", 7, 2)
			f.addVF("0000:01:00.0", 0, "0000:01:10.0", "vfio-pci", "")
			f.addVF("0000:01:00.0", 1, "0000:01:10.2", "igbvf", "eth0v1")
			nl := addressFake{&fakeLinks{}}
			if tt.fail != nil {
				nl.fail = map[string]error{"address": tt.fail}
			}
			h, err := newHost(Options{SysfsRoot: f.root}, nl)
			if err != nil {
				t.Fatal(err)
			}
			err = h.SetVFNetdevMAC(context.Background(), "eth0", tt.vf, tt.mac)
			if tt.errno == 0 && err != nil || tt.errno != 0 && !errors.Is(err, tt.errno) {
				t.Fatalf("error %v, want errno %v", err, tt.errno)
			}
			want := fmt.Sprintf("set the netdev address of vf %d on eth0 to %s", tt.vf, tt.mac)
			if err != nil && !strings.Contains(err.Error(), want) || !strings.Contains(fmt.Sprint(err), tt.detail) {
				t.Fatalf("error %q: want %q and %q", err, want, tt.detail)
			}
			if !reflect.DeepEqual(nl.calls, tt.calls) {
				t.Fatalf("calls %v, want %v", nl.calls, tt.calls)
			}
		})
	}
}
