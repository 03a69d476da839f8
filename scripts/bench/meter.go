package main

import (
	"fmt"
	"time"
)

// sample is one run of one phase.
type sample struct {
	wall     time.Duration
	s3, ddb  map[string]int
	rru, wru float64 // DynamoDB request units consumed
	api      int     // requests to the registry
	metered  int     // the same, as API Gateway meters them (per 512 KiB)
	ops      int
	lat      []time.Duration // of each operation
	lambda   invocations     // of the function, on the Lambda path
}

// results[phase][target] holds the samples.
type results struct {
	phases  []string // in order of first appearance
	targets []string
	notes   []string
	data    map[string]map[string][]*sample
	rss     map[string]map[string]int64 // workload → target → max VmHWM (KiB)
	phaseWL map[string]string           // phase → workload
	// loadStart is the machine's load average when the run started.
	loadStart string
	// gcBuild and gcReports describe the gc suite's registry and what
	// each of its runs found and did (in the order of targets).
	gcBuild   string
	gcReports []string
}

func (r *results) add(phase, target string, s *sample) {
	if r.data[phase] == nil {
		r.data[phase] = map[string][]*sample{}
		r.phases = append(r.phases, phase)
	}
	r.data[phase][target] = append(r.data[phase][target], s)
}

// meter times one phase and takes the proxies' counts around it.
type meter struct {
	res              *results
	target, workload string
	run              int // 1, 2, …
	c                *client
	s3p, ddbp        *countingProxy
	reports          *reportLog // the Lambda path's REPORT lines, or nil
}

// untimed runs setup whose requests are not counted.
func (m *meter) untimed(fn func() error) error {
	err := fn()
	m.take()
	return err
}

// take returns what the proxies and the function's log recorded since the
// last take.
func (m *meter) take() *sample {
	s := &sample{s3: map[string]int{}, ddb: map[string]int{}}
	if m.s3p != nil {
		s.s3, _, _ = m.s3p.count.take()
	}
	if m.ddbp != nil {
		s.ddb, s.rru, s.wru = m.ddbp.count.take()
	}
	if m.c != nil {
		s.api, s.metered = m.c.take()
	}
	if m.reports != nil {
		time.Sleep(100 * time.Millisecond) // the runtime reports just after it answers
		s.lambda = m.reports.take()
	}
	return s
}

// phase runs op(0) … op(ops-1), jobs at a time, and records the phase's
// wall time, the latency of each operation and what the proxies counted.
func (m *meter) phase(name string, ops, jobs int, op func(i int) error) error {
	m.take()
	lat := make([]time.Duration, ops)
	t0 := time.Now()
	err := parallel(ops, jobs, func(i int) error {
		t := time.Now()
		err := op(i)
		lat[i] = time.Since(t)
		return err
	})
	wall := time.Since(t0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s := m.take()
	s.wall, s.ops, s.lat = wall, ops, lat
	m.res.add(name, m.target, s)
	m.res.phaseWL[name] = m.workload
	return nil
}
