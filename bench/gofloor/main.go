// Command gofloor is the smallest Go program that prints a line: bench/start.sh times it beside
// `sriovctl version` and `ip -V` to show how much of sriovctl's start is the Go runtime's own (its
// scheduler, heap and signal setup, threads), which no change to sriovctl can remove.
package main

import "os"

func main() { os.Stdout.WriteString("gofloor\n") }
