//go:build !linux

package cli

import "os"

// isTTY reports whether f is a terminal: here, a character device.
func isTTY(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// termWidth is the terminal's width in columns: unknown here.
func termWidth(*os.File) int { return 0 }
