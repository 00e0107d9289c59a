package replication

import (
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// fsmAdapter adapts a StateMachine to raft.FSM and makes a fatal apply
// error stop the replica: once one entry fails, no later entry is applied
// (nor skipped: the replica stops, and after a restart it fails on the same
// entry again until an operator steps in).
type fsmAdapter struct {
	sm      StateMachine
	onFatal func(error)

	mu     sync.Mutex
	failed error // Protected by mu.
}

var _ raft.FSM = (*fsmAdapter)(nil)

func (a *fsmAdapter) failure() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed
}

// Apply implements raft.FSM. raft hands only command entries to Apply.
func (a *fsmAdapter) Apply(l *raft.Log) any {
	if err := a.failure(); err != nil {
		return err
	}
	if l.Type != raft.LogCommand {
		return nil
	}
	resp := a.sm.Apply(Entry{Index: l.Index, Term: l.Term, Data: l.Data})
	if fe, ok := resp.(*FatalError); ok {
		a.mu.Lock()
		first := a.failed == nil
		if first {
			a.failed = fe
		}
		a.mu.Unlock()
		if first {
			a.onFatal(fe)
		}
	}
	return resp
}

// Snapshot implements raft.FSM.
func (a *fsmAdapter) Snapshot() (raft.FSMSnapshot, error) {
	if err := a.failure(); err != nil {
		return nil, err
	}
	s, err := a.sm.Snapshot()
	if err != nil {
		return nil, err
	}
	return snapshotAdapter{s}, nil
}

// Restore implements raft.FSM.
func (a *fsmAdapter) Restore(r io.ReadCloser) error {
	defer r.Close()
	if err := a.failure(); err != nil {
		return err
	}
	return a.sm.Restore(r)
}

type snapshotAdapter struct{ s Snapshot }

func (s snapshotAdapter) Persist(sink raft.SnapshotSink) error {
	if err := s.s.Persist(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshotAdapter) Release() { s.s.Release() }
