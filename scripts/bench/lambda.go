package main

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
)

// invocations sums the function invocations of a phase on the Lambda path,
// from the REPORT lines the Runtime Interface Emulator writes as Lambda
// does: how many, and their durations in milliseconds.
type invocations struct {
	n            int
	ms, billedMS float64
}

func (a *invocations) add(b invocations) {
	a.n += b.n
	a.ms += b.ms
	a.billedMS += b.billedMS
}

// reportLog reads the REPORT lines appended to a log since the last take.
type reportLog struct {
	path string
	off  int64
}

// take returns the invocations reported since the last take.
func (l *reportLog) take() invocations {
	var inv invocations
	f, err := os.Open(l.path)
	if err != nil {
		return inv
	}
	defer f.Close()
	if _, err := f.Seek(l.off, io.SeekStart); err != nil {
		return inv
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // a line still being written is read next time
		}
		l.off += int64(len(line))
		if d, b, ok := parseReport(line); ok {
			inv.n++
			inv.ms += d
			inv.billedMS += b
		}
	}
	return inv
}

// parseReport reads the durations of a line such as
//
//	REPORT RequestId: 3ede…	Duration: 0.85 ms	Billed Duration: 1 ms	Memory Size: 512 MB	Max Memory Used: 512 MB
func parseReport(line string) (ms, billedMS float64, ok bool) {
	if !strings.HasPrefix(line, "REPORT RequestId:") {
		return 0, 0, false
	}
	for _, f := range strings.Split(line, "\t") {
		k, v, found := strings.Cut(strings.TrimSpace(f), ": ")
		if !found {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSuffix(v, " ms"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "Duration":
			ms, ok = n, true
		case "Billed Duration":
			billedMS = n
		}
	}
	return ms, billedMS, ok
}
