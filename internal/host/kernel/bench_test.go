package kernel

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkSetVFWrite measures one VF write on a fake sysfs with few and with many netdevs: the PF is
// resolved once per Host, so the cost of a write must not grow with the number of netdevs (it was a
// /sys/class/net scan per write: 93 µs with 8 netdevs, 9.8 ms with 1025).
func BenchmarkSetVFWrite(b *testing.B) {
	for _, netdevs := range []int{8, 1025} {
		b.Run(fmt.Sprintf("netdevs=%d", netdevs), func(b *testing.B) {
			f := newFakeSysfs(b)
			f.addPF("eth0", "0000:01:00.0", 7, 1)
			f.addVF("0000:01:00.0", 0, "0000:01:10.0", "", "")
			for i := 0; i < netdevs-1; i++ {
				f.write(fmt.Sprintf("class/net/veth%d/ifindex", i), fmt.Sprintf("%d\n", 1000+i))
			}
			h, err := newHost(Options{SysfsRoot: f.root}, &fakeLinks{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := h.SetVFTrust(ctx, "0000:01:00.0", 0, i%2 == 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
