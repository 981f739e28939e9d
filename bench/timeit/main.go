// Command timeit runs one command and prints its wall time in microseconds, its peak resident set size in
// KiB and its CPU time (user + system) in microseconds ("us rss_kb cpu_us"), for the benchmark scripts in
// bench/: timing the child from a Go parent leaves the
// parent's own start out, and rusage gives the child's peak RSS without /usr/bin/time. The command's
// output is discarded unless -show is given; a failing command makes timeit fail with its output.
//
//	timeit [-show] -- COMMAND [ARG...]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	show := flag.Bool("show", false, "copy the command's output to stderr")
	flag.Usage = func() { fmt.Fprintln(os.Stderr, "usage: timeit [-show] -- COMMAND [ARG...]") }
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var out bytes.Buffer
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "timeit: %s: %v\n%s", flag.Arg(0), err, out.Bytes())
		os.Exit(1)
	}
	if *show {
		os.Stderr.Write(out.Bytes())
	}
	rss := int64(0)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss // KiB on Linux
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fmt.Printf("%d %d %d\n", elapsed.Microseconds(), rss, cpu.Microseconds())
}
