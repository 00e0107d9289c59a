package history

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// recorderShards spreads appends over this many locks, by process.
const recorderShards = 16

// Recorder collects the ops of a run. Many goroutines append to it at
// once: an append takes an ID from an atomic counter and the lock of one
// of 16 shards (chosen by process), so processes rarely wait for each
// other. Its zero value is not ready: use NewRecorder.
type Recorder struct {
	start  time.Time
	nextID atomic.Int64
	shards [recorderShards]struct {
		mu  sync.Mutex
		ops []Op     // Protected by mu
		_   [32]byte // a shard per 64-byte cache line
	}
}

// NewRecorder returns an empty Recorder whose clock starts now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now returns the monotonic nanoseconds since the Recorder was made: the
// clock of Op.Invoke and Op.Complete.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Append adds op to the history, setting its ID (the op's own ID is
// ignored), and returns the ID. It does not validate op. Slices in op are
// kept, not copied: do not modify them afterwards.
func (r *Recorder) Append(op Op) int64 {
	op.ID = r.nextID.Add(1) - 1
	s := &r.shards[uint(op.Process)%recorderShards]
	s.mu.Lock()
	s.ops = append(s.ops, op)
	s.mu.Unlock()
	return op.ID
}

// Len returns the number of ops appended so far.
func (r *Recorder) Len() int { return int(r.nextID.Load()) }

// Ops returns a copy of the history so far, in ID order (the order of
// Append). An append that runs at the same time may be missing from it
// while later IDs are present.
func (r *Recorder) Ops() []Op {
	var out []Op
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		out = append(out, s.ops...)
		s.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Op) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
