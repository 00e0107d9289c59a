package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// churnSeen collects what the members of a group read, across members.
type churnSeen struct {
	mu      sync.Mutex
	offsets map[int32]map[int64]int // partition -> offset -> times read
	changed chan struct{}           // closed and replaced on every record
	errs    []error                 // Poll errors (not fatal)
}

func (s *churnSeen) add(recs []Record, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if s.offsets[r.Partition] == nil {
			s.offsets[r.Partition] = map[int64]int{}
		}
		s.offsets[r.Partition][r.Offset]++
	}
	if err != nil {
		s.errs = append(s.errs, err)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// missing returns the offsets below n of each partition nobody read.
func (s *churnSeen) missing(parts int32, n int64) map[int32][]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int32][]int64{}
	for p := range parts {
		for off := range n {
			if s.offsets[p][off] == 0 {
				out[p] = append(out[p], off)
			}
		}
	}
	return out
}

// churnMember polls a group member on its own goroutine until stopped.
type churnMember struct {
	g    *GroupConsumer
	stop chan struct{}
	done chan struct{}
}

func startChurnMember(t *testing.T, c *Client, seen *churnSeen, cfg GroupConfig) *churnMember {
	t.Helper()
	g := newTestGroup(t, c, cfg)
	m := &churnMember{g: g, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			select {
			case <-m.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			recs, err := g.Poll(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
				err = nil
			}
			seen.add(recs, err)
		}
	}()
	return m
}

// close stops polling, then closes the member (committing what it read).
func (m *churnMember) close(t *testing.T) {
	close(m.stop)
	<-m.done
	if err := m.g.Close(); err != nil {
		t.Logf("Close: %v", err)
	}
}

// TestGroupChurnAtLeastOnce reads a stream with members that join, leave,
// are removed (and join again) and restart as static members, while
// records are written, with frequent auto-commits: every record must be
// read by some member (at least once), and the committed offsets never
// pass the end of what was read.
func TestGroupChurnAtLeastOnce(t *testing.T) {
	t.Parallel()
	const parts, rounds, perRound = 4, 5, 40
	fc := newFakeCluster(t, 3)
	fc.createStream("s", parts)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{BatchBytes: 300})
	seen := &churnSeen{offsets: map[int32]map[int64]int{}, changed: make(chan struct{})}
	cfg := func(instance string) GroupConfig {
		return GroupConfig{Group: "g", Streams: []string{"s"}, AutoCommit: true, InstanceID: instance,
			AutoCommitInterval: 5 * time.Millisecond,
			Consumer:           ConsumerConfig{FetchBytes: 200, MaxWait: 10 * time.Millisecond}}
	}
	produce := func(round int) {
		for part := range int32(parts) {
			produceN(t, p, "s", part, round*perRound, perRound)
		}
	}
	// waitRead waits until every record of the first n rounds was read.
	waitRead := func(n int) {
		ctx := testCtx(t)
		for {
			seen.mu.Lock()
			ch := seen.changed
			seen.mu.Unlock()
			miss := seen.missing(parts, int64(n*perRound))
			if len(miss) == 0 {
				return
			}
			select {
			case <-ch:
			case <-ctx.Done():
				t.Fatalf("records never read after %d rounds: %v", n, miss)
			}
		}
	}

	a := startChurnMember(t, c, seen, cfg(""))
	b := startChurnMember(t, c, seen, cfg(""))
	produce(0)
	waitRead(1)

	cm := startChurnMember(t, c, seen, cfg("static-c"))
	produce(1)
	fc.expireMember("g", a.g.MemberID()) // a loses its partitions and joins again
	waitRead(2)

	b.close(t) // leaves
	produce(2)
	waitRead(3)

	cm.close(t) // static: stays a member until its session ends
	produce(3)
	cm = startChurnMember(t, c, seen, cfg("static-c")) // back within the session
	waitRead(4)

	d := startChurnMember(t, c, seen, cfg(""))
	produce(4)
	waitRead(5)
	for _, m := range []*churnMember{a, cm, d} {
		m.close(t)
	}
	for part := range int32(parts) {
		sp := StreamPartition{"s", part}
		if got := fc.committed("g", sp); got > rounds*perRound {
			t.Errorf("%s: committed %d, past the end %d", sp, got, rounds*perRound)
		}
	}
	seen.mu.Lock()
	dups := 0
	for _, offs := range seen.offsets {
		for _, n := range offs {
			dups += n - 1
		}
	}
	t.Logf("%d records read more than once; Poll errors: %v", dups, seen.errs)
	seen.mu.Unlock()
}
