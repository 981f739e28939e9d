package kernel

import (
	"errors"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The kernel log reader on a pipe carrying /dev/kmsg records: Mark drops what came before a write, Lines
// keeps what mentions the device, without the "driver address: " prefix.
func TestKmsgMarkAndLines(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	k := &kmsgFile{fd: p[0]}
	defer unix.Close(p[0])
	put := func(rec string) {
		if _, err := unix.Write(p[1], []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	put("6,100,5000,-;igb 0000:01:00.0: setting MAC on VF 0\n SUBSYSTEM=pci\n DEVICE=+pci:0000:01:00.0\n")
	k.Mark()
	put("3,101,5100,-;igb 0000:01:00.0: 4 VFs already enabled. Disable before enabling 2 VFs\n SUBSYSTEM=pci\n")
	if got, want := k.Lines("0000:01:00.0"), []string{"4 VFs already enabled. Disable before enabling 2 VFs"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	put("3,102,5200,-;vfio-pci 0000:01:10.0: probe failed\n")
	if got := k.Lines("0000:01:00.0"); len(got) != 0 {
		t.Errorf("another device's record: %q", got)
	}
}

func TestRecordMentioning(t *testing.T) {
	for _, c := range []struct {
		rec, match, want string
		ok               bool
	}{
		{"6,1,2,-;igb 0000:01:00.0: VF 0 is trusted\n", "0000:01:00.0", "VF 0 is trusted", true},
		{"6,1,2,-;vfio-pci: probe of 0000:01:10.0 failed with error -22\n", "0000:01:10.0", "vfio-pci: probe of 0000:01:10.0 failed with error -22", true},
		{"6,1,2,-;igb 0000:02:00.0: other\n", "0000:01:00.0", "", false},
		{"no record separator", "0000:01:00.0", "", false},
	} {
		got, ok := recordMentioning(c.rec, c.match)
		if got != c.want || ok != c.ok {
			t.Errorf("recordMentioning(%q) = %q, %v; want %q, %v", c.rec, got, ok, c.want, c.ok)
		}
	}
}

// Interrupted dumps are retried a few times; other errors and successes return at once.
func TestRetryInterrupted(t *testing.T) {
	for _, c := range []struct {
		name      string
		failFirst int
		other     error
		calls     int
		err       error
	}{
		{"success", 0, nil, 1, nil},
		{"interrupted twice", 2, nil, 3, nil},
		{"always interrupted", 100, nil, dumpRetries, netlink.ErrDumpInterrupted},
		{"other error", 0, unix.EPERM, 1, unix.EPERM},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			v, err := retryInterrupted(func() (int, error) {
				calls++
				if calls <= c.failFirst {
					return -1, netlink.ErrDumpInterrupted
				}
				return 42, c.other
			})
			if calls != c.calls || !errors.Is(err, c.err) || (err == nil && v != 42) {
				t.Errorf("calls %d, value %d, err %v; want %d calls and %v", calls, v, err, c.calls, c.err)
			}
		})
	}
}
