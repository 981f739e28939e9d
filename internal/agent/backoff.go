package agent

import "time"

// Backoff spaces out retries of a refused repair: Base after the first failure, doubling up to Max.
type Backoff struct {
	Base, Max time.Duration
	failures  int
	next      time.Time
}

// Fail records a failure at now and returns the delay until the next attempt.
func (b *Backoff) Fail(now time.Time) time.Duration {
	b.failures++
	d := b.Base
	for i := 1; i < b.failures && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	b.next = now.Add(d)
	return d
}

// Reset forgets earlier failures.
func (b *Backoff) Reset() { b.failures, b.next = 0, time.Time{} }

// Failures is the number of failures in a row.
func (b *Backoff) Failures() int { return b.failures }

// Next is when the next attempt may run (zero: at once).
func (b *Backoff) Next() time.Time { return b.next }

// Waiting reports whether now is before the next allowed attempt.
func (b *Backoff) Waiting(now time.Time) bool { return now.Before(b.next) }
