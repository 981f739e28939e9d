package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// plural is n with the noun in the number it needs: "1 write", "2 writes", "0 writes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// fileError says why a file could not be read as "PATH: no such file", without Go's "open PATH:" prefix.
func fileError(err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return err
	}
	why := pe.Err.Error()
	switch {
	case errors.Is(pe.Err, fs.ErrNotExist):
		why = "no such file"
	case errors.Is(pe.Err, fs.ErrPermission):
		why = "permission denied"
	case errors.Is(pe.Err, syscall.EISDIR):
		why = "a directory, not a file"
	}
	return fmt.Errorf("%s: %s", pe.Path, why)
}
