//go:build !linux

package cli

import "os"

// isTTY reports whether f is a terminal.
func isTTY(f *os.File) bool { return isTerminal(f) }
