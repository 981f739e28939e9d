package change_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host/lab"
)

// TestTraceSeesForwardWrites: a Trace on the context is told of each forward write before and after it
// is made, with its position; the undo writes of a rollback are not reported as progress.
func TestTraceSeesForwardWrites(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failAt int
		want   []string
	}{
		{"all succeed", 0, []string{"before 0/3", "after 0/3 <nil>", "before 1/3", "after 1/3 <nil>", "before 2/3", "after 2/3 <nil>"}},
		{"the second fails", 2, []string{"before 0/3", "after 0/3 <nil>", "before 1/3", "after 1/3 failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, p := setup(t)
			if tc.failAt > 0 {
				if err := l.SetFault(lab.FaultConfig{FailAt: tc.failAt, Errno: "EIO"}); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			ops := opsFor(p)[:3]
			ctx := change.WithTrace(context.Background(), &change.Trace{
				Before: func(i, n int, o change.Op) {
					if !reflect.DeepEqual(o, ops[i]) {
						t.Errorf("write %d: %+v, want %+v", i, o, ops[i])
					}
					got = append(got, fmt.Sprintf("before %d/%d", i, n))
				},
				After: func(i, n int, o change.Op, err error) {
					e := "<nil>"
					if err != nil {
						e = "failed"
					}
					got = append(got, fmt.Sprintf("after %d/%d %s", i, n, e))
				},
			})
			res, err := change.Run(ctx, l, ops, change.Hooks{})
			if (err != nil) != (tc.failAt > 0) || tc.failAt > 0 && !res.RolledBack {
				t.Fatalf("run: %+v %v", res, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("trace %q, want %q", got, tc.want)
			}
		})
	}
}
