package bench

import (
	"fmt"
	"sync"
)

// Bounds of a run's error list.
const (
	maxErrors = 10 // distinct errors of sends and receives
	maxNotes  = 20 // notes of the run itself (timeouts, cleanup, sampling)
)

// errorLog keeps the first few distinct errors of a run, with how often
// each occurred, and the run's own notes. It is safe for concurrent use.
type errorLog struct {
	mu struct {
		sync.Mutex
		order   []string
		counts  map[string]int64
		dropped int64 // errors not kept because the list was full
		notes   []string
	}
}

func newErrorLog() *errorLog {
	e := &errorLog{}
	e.mu.counts = make(map[string]int64)
	return e
}

// add counts an error of a send or receive; what says which.
func (e *errorLog) add(what string, err error) {
	msg := what + ": " + err.Error()
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.mu.counts[msg]; !ok {
		if len(e.mu.order) >= maxErrors {
			e.mu.dropped++ // later new kinds are only counted
			return
		}
		e.mu.order = append(e.mu.order, msg)
	}
	e.mu.counts[msg]++
}

// note records something about the run itself, such as a timeout.
func (e *errorLog) note(msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.mu.notes) < maxNotes {
		e.mu.notes = append(e.mu.notes, msg)
	}
}

// list returns the errors, each with its count when above one, then
// the notes.
func (e *errorLog) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, m := range e.mu.order {
		if n := e.mu.counts[m]; n > 1 {
			m = fmt.Sprintf("%s (%d times)", m, n)
		}
		out = append(out, m)
	}
	if e.mu.dropped > 0 {
		out = append(out, fmt.Sprintf("%d more errors of other kinds", e.mu.dropped))
	}
	return append(out, e.mu.notes...)
}
