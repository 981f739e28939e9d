package change

import "context"

// Trace observes the forward writes Run makes, as net/http/httptrace observes a request: the caller puts
// it on the context with WithTrace, so that it reaches Run through every layer in between (journaled
// execution, pools, mirror groups, recovery) without each of them passing it on. Progress output uses it.
type Trace struct {
	// Before is called just before write i (0-based) of the n that Run was given is made.
	Before func(i, n int, o Op)
	// After is called once write i returned, with its error (nil when it succeeded).
	After func(i, n int, o Op, err error)
}

type traceKey struct{}

// WithTrace returns ctx carrying t.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// traceOf returns the Trace on ctx, or an empty one.
func traceOf(ctx context.Context) *Trace {
	if t, ok := ctx.Value(traceKey{}).(*Trace); ok && t != nil {
		return t
	}
	return &Trace{}
}
