package replication

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// storeFSM is a trivial state machine for TestRaftOnStore: it counts the
// commands it applies and chains a hash over them, so equal states mean the
// same commands in the same order. (mux_test.go has its own; this one
// stays independent of it.)
type storeFSM struct {
	mu          sync.Mutex
	count, hash uint64
}

func (f *storeFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count++
	for _, c := range l.Data {
		f.hash = (f.hash ^ uint64(c)) * 1099511628211 // FNV-1a step
	}
	f.hash = (f.hash ^ 0xff) * 1099511628211 // command boundary
	return f.count
}

func (f *storeFSM) state() [2]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return [2]uint64{f.count, f.hash}
}

func (f *storeFSM) Snapshot() (raft.FSMSnapshot, error) { return storeFSMSnapshot(f.state()), nil }

func (f *storeFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var b [16]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count, f.hash = binary.BigEndian.Uint64(b[:]), binary.BigEndian.Uint64(b[8:])
	return nil
}

type storeFSMSnapshot [2]uint64

func (s storeFSMSnapshot) Persist(sink raft.SnapshotSink) error {
	b := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, s[0]), s[1])
	if _, err := sink.Write(b); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (storeFSMSnapshot) Release() {}

// storeNode is one raft node of TestRaftOnStore: its own crashable
// in-memory FS and Pebble, a GroupStore, and state that outlives a restart
// as a disk would (the FS and the snapshot store).
type storeNode struct {
	id    raft.ServerID
	fs    *vfs.MemFS
	snaps *raft.InmemSnapshotStore
	db    *pebble.DB
	store *GroupStore
	trans *raft.InmemTransport
	fsm   *storeFSM
	raft  *raft.Raft
}

// start opens the node's Pebble and group store and starts raft on them
// with a fresh FSM (raft restores it from the snapshot and replays the log).
func (n *storeNode) start(t *testing.T, bootstrap *raft.Configuration) {
	t.Helper()
	n.db = openStoreDB(t, n.fs, nil)
	n.store = mustGroup(t, NewStore(n.db), "p0")
	_, n.trans = raft.NewInmemTransport(raft.ServerAddress(n.id))
	n.fsm = &storeFSM{}
	c := raft.DefaultConfig()
	c.LocalID = n.id
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.LeaderLeaseTimeout = 50 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	// Snapshot and compact often, so raft exercises DeleteRange and the
	// restarted node may need a snapshot to catch up.
	c.SnapshotInterval = 30 * time.Millisecond
	c.SnapshotThreshold = 40
	c.TrailingLogs = 20
	c.Logger = hclog.NewNullLogger()
	if bootstrap != nil {
		if err := raft.BootstrapCluster(c, n.store, n.store, n.snaps, n.trans, *bootstrap); err != nil {
			t.Fatalf("bootstrap %s: %v", n.id, err)
		}
	}
	r, err := raft.NewRaft(c, n.fsm, n.store, n.store, n.snaps, n.trans)
	if err != nil {
		t.Fatalf("NewRaft %s: %v", n.id, err)
	}
	n.raft = r
}

// stop shuts raft down (which closes the transport) and closes Pebble.
// With crash, Pebble is reopened from a crash image of the FS taken after
// raft stopped, as after a SIGKILL: only what was synced survives.
func (n *storeNode) stop(t *testing.T, crash bool) {
	t.Helper()
	if n.raft == nil {
		return
	}
	if err := n.raft.Shutdown().Error(); err != nil {
		t.Errorf("shutdown %s: %v", n.id, err)
	}
	n.raft = nil
	if crash {
		n.fs = n.fs.CrashClone(vfs.CrashCloneCfg{})
	}
	if err := n.db.Close(); err != nil {
		t.Errorf("close %s: %v", n.id, err)
	}
}

func connectAll(nodes []*storeNode) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b && a.raft != nil && b.raft != nil {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
}

// applyAll applies n commands through whichever node leads, retrying on a
// leadership change (a retried command may be applied twice; the check is
// that every FSM agrees).
func applyAll(t *testing.T, nodes []*storeNode, prefix string, n int) {
	t.Helper()
	futures := make([]raft.ApplyFuture, n)
	leader := waitStoreLeader(t, nodes)
	for i := range futures {
		futures[i] = leader.raft.Apply(fmt.Appendf(nil, "%s-%d", prefix, i), 5*time.Second)
	}
	for i, f := range futures {
		for attempt := 0; f.Error() != nil; attempt++ {
			if attempt == 5 {
				t.Fatalf("apply %s-%d: %v", prefix, i, f.Error())
			}
			f = waitStoreLeader(t, nodes).raft.Apply(fmt.Appendf(nil, "%s-%d", prefix, i), 5*time.Second)
		}
	}
}

func waitStoreLeader(t *testing.T, nodes []*storeNode) *storeNode {
	t.Helper()
	var leader *storeNode
	waitFor(t, 20*time.Second, func() bool {
		for _, n := range nodes {
			if n.raft != nil && n.raft.State() == raft.Leader {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// waitAgree waits until every running node has applied at least atLeast
// commands and all FSMs are in the same state.
func waitAgree(t *testing.T, nodes []*storeNode, atLeast uint64) [2]uint64 {
	t.Helper()
	var st [2]uint64
	waitFor(t, 20*time.Second, func() bool {
		st = [2]uint64{}
		for _, n := range nodes {
			if n.raft == nil {
				continue
			}
			s := n.fsm.state()
			if s[0] < atLeast || (st != [2]uint64{} && s != st) {
				return false
			}
			st = s
		}
		return true
	})
	return st
}

// TestRaftOnStore runs hashicorp/raft on GroupStores: three nodes, each
// with its own Pebble, agree on 200 commands; one follower is stopped (and
// its Pebble closed, or crash-imaged), misses 100 more, is restarted on its
// reopened Pebble with a fresh FSM, and catches up.
func TestRaftOnStore(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			nodes := make([]*storeNode, 3)
			var conf raft.Configuration
			for i := range nodes {
				id := raft.ServerID(fmt.Sprintf("n%d", i))
				nodes[i] = &storeNode{id: id, fs: vfs.NewCrashableMem(), snaps: raft.NewInmemSnapshotStore()}
				conf.Servers = append(conf.Servers, raft.Server{ID: id, Address: raft.ServerAddress(id)})
			}
			t.Cleanup(func() {
				for _, n := range nodes {
					n.stop(t, false)
				}
			})
			for _, n := range nodes {
				n.start(t, &conf)
			}
			connectAll(nodes)

			applyAll(t, nodes, "a", 200)
			before := waitAgree(t, nodes, 200)
			leader := waitStoreLeader(t, nodes)
			// Raft compacted its log through DeleteRange after a snapshot.
			waitFor(t, 20*time.Second, func() bool {
				first, _ := leader.store.FirstIndex()
				return first > 1
			})

			var f *storeNode
			for _, n := range nodes {
				if n != leader {
					f = n
					break
				}
			}
			lastBefore, _ := f.store.LastIndex()
			for _, n := range nodes {
				if n != f {
					n.trans.Disconnect(raft.ServerAddress(f.id))
				}
			}
			f.stop(t, crash)

			applyAll(t, nodes, "b", 100)
			waitAgree(t, nodes, before[0]+100)

			f.start(t, nil)
			if last, _ := f.store.LastIndex(); last < lastBefore {
				t.Fatalf("restarted %s: last index %d, was %d before the stop", f.id, last, lastBefore)
			}
			connectAll(nodes)
			after := waitAgree(t, nodes, before[0]+100)
			if st := f.fsm.state(); st != after {
				t.Fatalf("restarted %s: FSM %v, others %v", f.id, st, after)
			}
		})
	}
}
