package host

import "errors"

// Outcome says how far a write got. A nil error means Confirmed; an error means NotWritten unless it says
// otherwise, so that a backend has to state explicitly that a failed write still reached the host.
type Outcome int

// The outcomes of a write.
const (
	// NotWritten: the host refused the write or it was never sent; nothing changed.
	NotWritten Outcome = iota
	// Confirmed: the write took effect and the backend saw it do so.
	Confirmed
	// Unconfirmed: the write was accepted (e.g. sriov_numvfs was written, a driver was bound) but what
	// should follow it could not be confirmed (the VFs did not appear in time, the wait was cancelled).
	// The host may well be changed: callers undo it like a done write and keep their journal until the
	// host is known again.
	Unconfirmed
)

func (o Outcome) String() string {
	switch o {
	case Confirmed:
		return "written"
	case Unconfirmed:
		return "written, unconfirmed"
	}
	return "not written"
}

// unconfirmedError marks an error as one that followed a write that took effect.
type unconfirmedError struct{ err error }

func (e *unconfirmedError) Error() string { return e.err.Error() }
func (e *unconfirmedError) Unwrap() error { return e.err }

// WrittenUnconfirmed marks err as the failure to confirm a write that was made; nil stays nil.
func WrittenUnconfirmed(err error) error {
	if err == nil {
		return nil
	}
	return &unconfirmedError{err: err}
}

// OutcomeOf returns the outcome of a write that returned err.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Confirmed
	}
	var u *unconfirmedError
	if errors.As(err, &u) {
		return Unconfirmed
	}
	return NotWritten
}
