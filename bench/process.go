package bench

import "fmt"

// procSampler samples the CPU time and resident memory of the local
// server processes of a run. It is used by the goroutine that runs the
// windows only.
type procSampler struct {
	procs []sampledProc
}

// sampledProc is one process being sampled.
type sampledProc struct {
	Process
	ok       bool    // false once a sample failed; the process is then skipped
	startCPU float64 // CPU seconds at the start of the measured phase
	endCPU   float64 // CPU seconds at the end of the measured phase
	maxRSS   int64   // largest resident set seen in the measured phase
}

// newProcSampler returns a sampler of ps. note is told about each
// process that cannot be sampled (another OS, no such pid).
func newProcSampler(ps []Process, note func(string)) *procSampler {
	s := &procSampler{}
	for _, p := range ps {
		sp := sampledProc{Process: p, ok: true}
		if _, _, err := readProc(p.PID); err != nil {
			note(fmt.Sprintf("process %s (pid %d) not sampled: %v", p.Name, p.PID, err))
			sp.ok = false
		}
		s.procs = append(s.procs, sp)
	}
	return s
}

// sample reads every process once. At the start of the measured phase
// (start) it records the CPU time the phase is measured from; at its
// end it records the CPU time the phase is measured to. The RSS is kept
// at its maximum over the samples from start to end.
func (s *procSampler) sample(start, measuring, end bool, note func(string)) {
	for i := range s.procs {
		p := &s.procs[i]
		if !p.ok {
			continue
		}
		cpu, rss, err := readProc(p.PID)
		if err != nil {
			note(fmt.Sprintf("process %s (pid %d): sampling stopped: %v", p.Name, p.PID, err))
			p.ok = false
			continue
		}
		if start {
			p.startCPU = cpu
		}
		if start || measuring || end {
			p.maxRSS = max(p.maxRSS, rss)
			p.endCPU = cpu
		}
	}
}

// stats returns the processes' use over a measured phase of seconds.
// A process that could not be sampled is left out.
func (s *procSampler) stats(seconds float64) []ProcessStats {
	var out []ProcessStats
	for _, p := range s.procs {
		if p.maxRSS == 0 && p.endCPU == 0 {
			continue // never sampled in the measured phase
		}
		st := ProcessStats{Name: p.Name, PID: p.PID, CPUSeconds: p.endCPU - p.startCPU, MaxRSS: p.maxRSS}
		if seconds > 0 {
			st.CPUPercent = 100 * st.CPUSeconds / seconds
		}
		out = append(out, st)
	}
	return out
}
