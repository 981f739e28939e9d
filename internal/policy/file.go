package policy

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ReadFile reads a policy file for -f/--policy: a regular file of at most MaxFileSize bytes. It opens
// the path non-blocking, so a FIFO cannot hold the command past Ctrl-C waiting for a writer, and checks
// the type of what it opened (not of what the path named a moment before): a device such as /dev/zero
// or a FIFO is refused instead of read until memory runs out. Errors are *Error naming the file.
func ReadFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &Error{File: path, Msg: openMessage(err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &Error{File: path, Msg: openMessage(err)}
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{File: path, Msg: fmt.Sprintf("not a regular file (%s); give a policy file", fileKind(fi.Mode()))}
	}
	if fi.Size() > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is %d bytes; at most %d (%s) allowed", fi.Size(), MaxFileSize, sizeText(MaxFileSize))}
	}
	// The size can grow after the stat: read one byte past the limit to notice.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: path, Msg: openMessage(err)}
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is over %d bytes (%s) allowed", MaxFileSize, sizeText(MaxFileSize))}
	}
	return data, nil
}

// openMessage words an I/O error without Go's "open PATH:" prefix (the Error names the file).
func openMessage(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	case errors.Is(err, unix.EISDIR):
		return "is a directory; give a policy file"
	}
	return err.Error()
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.Type().String()
}

func sizeText(n int) string {
	return fmt.Sprintf("%d MiB", n>>20)
}
