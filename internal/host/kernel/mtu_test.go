package kernel

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// mtuFake is fakeLinks that also sets MTUs (what SetPFMTU uses instead of the real netlink call).
type mtuFake struct{ *fakeLinks }

func (l mtuFake) SetMTU(ifindex, mtu int) error { return l.set(fmt.Sprintf("mtu %d %d", ifindex, mtu)) }

func TestSetPFMTU(t *testing.T) {
	tests := []struct {
		name, ref string
		fail      error
		calls     []string
		errno     syscall.Errno
		detail    string
	}{
		{"by name", "eth0", nil, []string{"mtu 10 9000"}, 0, ""},
		{"by PCI address", "0000:01:00.0", nil, []string{"mtu 10 9000"}, 0, ""},
		{"kernel refuses", "eth0", fmt.Errorf("%w: mtu greater than device maximum", syscall.EINVAL), []string{"mtu 10 9000"}, syscall.EINVAL, "mtu greater than device maximum"},
		{"no such PF", "eth9", nil, nil, syscall.ENODEV, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSysfs(t)
			f.addPF("eth0", "0000:01:00.0", 7, 0)
			nl := mtuFake{&fakeLinks{}}
			if tt.fail != nil {
				nl.fail = map[string]error{"mtu": tt.fail}
			}
			h, err := newHost(Options{SysfsRoot: f.root}, nl)
			if err != nil {
				t.Fatal(err)
			}
			err = h.SetPFMTU(context.Background(), tt.ref, 9000)
			if tt.errno == 0 && err != nil || tt.errno != 0 && !errors.Is(err, tt.errno) {
				t.Fatalf("error %v, want errno %v", err, tt.errno)
			}
			if err != nil && !strings.Contains(err.Error(), "set mtu 9000 on "+tt.ref) || !strings.Contains(fmt.Sprint(err), tt.detail) {
				t.Fatalf("error %q: want the operation and %q", err, tt.detail)
			}
			if !reflect.DeepEqual(nl.calls, tt.calls) {
				t.Fatalf("calls %v, want %v", nl.calls, tt.calls)
			}
		})
	}
}
