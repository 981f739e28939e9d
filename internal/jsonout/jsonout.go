// Package jsonout is sriovctl's machine output: one Go type per command's --json document, the one
// encoder every command prints through, and the JSON Schemas generated from those types.
//
// The types here are the contract with scripts, kept apart from the types the state files store (the
// ledger, the journal), so that a rename in a state file never changes what scripts read and the other
// way round. The rules they follow (docs/json.md): one top-level object per command; the same thing has
// the same name everywhere (a PCI address is pciAddress, a PF's pfPciAddress; a list of writes is ops,
// their count changeCount); lists are [] and never null; no HTML escaping; fields in declaration order.
package jsonout

import (
	"bytes"
	"encoding/json"
	"io"
)

// Write prints v as indented JSON without HTML escaping ("->" stays "->", not "-\u003e").
func Write(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// List makes a nil slice an empty one, so that it prints as [] rather than null.
func List[E any](s []E) []E {
	if s == nil {
		return []E{}
	}
	return s
}

// convert maps each element of s with f, into a list that is [] rather than null when s is empty.
func convert[E, T any](s []E, f func(E) T) []T {
	out := make([]T, 0, len(s))
	for _, e := range s {
		out = append(out, f(e))
	}
	return out
}

//go:generate go run ./schemagen/genschemas -root ../.. -out ../../schemas
