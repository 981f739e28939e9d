package cli

import "testing"

func TestCarriedBy(t *testing.T) {
	cases := []struct {
		writes, hostWrites int
		want               string
	}{
		{35, 7, " in 7 kernel requests (one netlink message carries all of a VF's settings)"},
		{2, 1, " in 1 kernel request (one netlink message carries all of a VF's settings)"},
		{35, 35, ""}, // the lab and unbatched writes: nothing to add
		{0, 0, ""},
		{5, 0, ""}, // an older result without the count
	}
	for _, c := range cases {
		if got := carriedBy(c.writes, c.hostWrites); got != c.want {
			t.Errorf("carriedBy(%d, %d) = %q, want %q", c.writes, c.hostWrites, got, c.want)
		}
	}
}
