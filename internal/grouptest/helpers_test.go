package grouptest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/testcluster"
)

// TestMain checks for leaked goroutines. hashicorp/raft v1.8 can leave
// the two goroutines of a leadership transfer parked for good when a node
// shuts down while the transfer is in flight (the tests stop nodes while
// the others hand leadership back to preferred leaders): they are raft's,
// not ours, and are ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*Raft).leadershipTransfer"),
		goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*Raft).leaderLoop.func2"))
}

type sp = client.StreamPartition

// fixture is a 3-node cluster with a stream and a client.
type fixture struct {
	t      testing.TB
	c      *testcluster.Cluster
	cl     *client.Client
	stream string
	parts  int
}

func newFixture(t testing.TB, parts int) *fixture {
	t.Helper()
	c := testcluster.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := client.New(ctx, client.Config{Servers: c.Addrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	f := &fixture{t: t, c: c, cl: cl, stream: "s", parts: parts}
	if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: "s", Partitions: parts}); err != nil {
		t.Fatal(err)
	}
	f.waitPreferredLeaders()
	return f
}

// waitPreferredLeaders waits until every partition is led by its
// preferred leader: until then the nodes hand leadership over, and
// writes pause for each handover.
func (f *fixture) waitPreferredLeaders() {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		info, err := f.cl.DescribeStream(ctx, f.stream)
		cancel()
		done := err == nil
		for _, p := range info.Partitions {
			done = done && len(p.Replicas) > 0 && p.LeaderID == p.Replicas[0]
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("partitions not on their preferred leaders after 30 s: %v %v", info.Partitions, err)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// produce writes n keyed records and waits for them.
func (f *fixture) produce(first, n int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := f.cl.NewProducer(client.ProducerConfig{})
	if err != nil {
		f.t.Fatal(err)
	}
	recs := make([]client.Record, n)
	for i := range recs {
		recs[i] = client.NewRecord(f.stream, fmt.Appendf(nil, "k%d", first+i), fmt.Appendf(nil, "v%d", first+i))
	}
	if _, err := p.ProduceSync(ctx, recs...); err != nil {
		f.t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		f.t.Fatal(err)
	}
}

// all returns every partition of the fixture's stream.
func (f *fixture) all() []sp {
	out := make([]sp, f.parts)
	for i := range out {
		out[i] = sp{Stream: f.stream, Partition: int32(i)}
	}
	return out
}

// tracker counts every record the members returned, by partition and
// offset, and logs revocations.
type tracker struct {
	mu      sync.Mutex
	seen    map[sp]map[int64]int
	revoked map[string][]sp // member name -> partitions revoked (not lost)
	lost    map[string][]sp
}

func newTracker() *tracker {
	return &tracker{seen: map[sp]map[int64]int{}, revoked: map[string][]sp{}, lost: map[string][]sp{}}
}

func (tr *tracker) add(recs []client.Record) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, r := range recs {
		k := sp{Stream: r.Stream, Partition: r.Partition}
		if tr.seen[k] == nil {
			tr.seen[k] = map[int64]int{}
		}
		tr.seen[k][r.Offset]++
	}
}

// missing returns, per partition, the offsets below hw[p] never seen.
func (tr *tracker) missing(hw map[sp]int64) map[sp][]int64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[sp][]int64{}
	for p, end := range hw {
		for off := int64(0); off < end; off++ {
			if tr.seen[p][off] == 0 {
				out[p] = append(out[p], off)
			}
		}
	}
	return out
}

func (tr *tracker) total() (records, duplicates int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, m := range tr.seen {
		for _, n := range m {
			records++
			duplicates += n - 1
		}
	}
	return records, duplicates
}

// member runs a GroupConsumer's Poll loop: every batch is counted, then
// committed (manual commit after processing: at-least-once).
type member struct {
	name   string
	g      *client.GroupConsumer
	cancel context.CancelFunc
	done   chan struct{}
}

func (f *fixture) start(name string, tr *tracker, cfg client.GroupConfig) *member {
	f.t.Helper()
	if cfg.Group == "" {
		cfg.Group = "g"
	}
	cfg.Streams = []string{f.stream}
	cfg.OnRevoked = func(_ context.Context, parts []sp) {
		tr.mu.Lock()
		tr.revoked[name] = append(tr.revoked[name], parts...)
		tr.mu.Unlock()
	}
	cfg.OnLost = func(_ context.Context, parts []sp) {
		tr.mu.Lock()
		tr.lost[name] = append(tr.lost[name], parts...)
		tr.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, err := f.cl.NewGroupConsumer(ctx, cfg)
	if err != nil {
		f.t.Fatalf("%s: join: %v", name, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	m := &member{name: name, g: g, cancel: stop, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for runCtx.Err() == nil {
			// Poll for at most a second, and commit after every Poll, not
			// only one that returned records: a commit that failed (an
			// election outlasting its 10 s) is sent again by the next,
			// and one with nothing new to commit sends nothing.
			pctx, pcancel := context.WithTimeout(runCtx, time.Second)
			recs, err := g.Poll(pctx)
			pcancel()
			tr.add(recs)
			if errors.Is(err, context.DeadlineExceeded) {
				err = nil // a quiet second
			}
			cctx, ccancel := context.WithTimeout(runCtx, 10*time.Second)
			if cerr := g.Commit(cctx); cerr != nil && runCtx.Err() == nil {
				f.t.Logf("%s: commit: %v", name, cerr)
			}
			ccancel()
			if err != nil && runCtx.Err() == nil && !errors.Is(err, context.Canceled) {
				f.t.Logf("%s: poll: %v", name, err)
			}
		}
	}()
	f.t.Cleanup(func() { m.stop() })
	return m
}

// stop ends the member's loop and closes it (leaving or not, as its
// config says).
func (m *member) stop() {
	m.cancel()
	<-m.done
	_ = m.g.Close()
}

// waitCover waits until the members' assignments are disjoint, cover
// every partition, and are what the coordinator wants (the group is
// stable with exactly these members), and returns how long that took and
// the assignments.
func (f *fixture) waitCover(members []*member, timeout time.Duration) (time.Duration, map[string][]sp) {
	f.t.Helper()
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		got := map[string][]sp{}
		owner := map[sp]string{}
		ok := true
		for _, m := range members {
			a := m.g.Assignment()
			got[m.name] = a
			for _, p := range a {
				if o, dup := owner[p]; dup {
					f.t.Fatalf("%v assigned to %s and %s at once", p, o, m.name)
				}
				owner[p] = m.name
			}
		}
		for _, p := range f.all() {
			if _, has := owner[p]; !has {
				ok = false
			}
		}
		if ok {
			ok = f.stable(members, got)
		}
		if ok {
			return time.Since(start), got
		}
		if time.Since(start) > timeout {
			f.t.Fatalf("members did not cover the %d partitions within %v: %v", f.parts, timeout, got)
		}
		<-tick.C
	}
}

// stable reports whether the coordinator has exactly these members, each
// with a target equal to what it owns.
func (f *fixture) stable(members []*member, got map[string][]sp) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := f.cl.DescribeGroup(ctx, "g")
	if err != nil || d.State != "stable" || len(d.Members) != len(members) {
		return false
	}
	for _, m := range members {
		id := m.g.MemberID()
		i := slices.IndexFunc(d.Members, func(gm client.GroupMember) bool { return gm.MemberID == id })
		if i < 0 || !slices.Equal(sortedSPs(d.Members[i].Assigned), sortedSPs(got[m.name])) {
			return false
		}
	}
	return true
}

// highWatermarks returns every partition's high watermark.
func (f *fixture) highWatermarks() map[sp]int64 {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		info, err := f.cl.DescribeStream(ctx, f.stream)
		cancel()
		out := map[sp]int64{}
		known := err == nil
		for _, p := range info.Partitions {
			out[sp{Stream: f.stream, Partition: p.Partition}] = p.HighWatermark
			known = known && p.HighWatermark >= 0
		}
		if known {
			return out
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("high watermarks unknown after 30 s: %v %v", out, err)
		}
		<-time.After(50 * time.Millisecond)
	}
}

// waitConsumed waits until the tracker has seen every offset below the
// high watermarks.
func (f *fixture) waitConsumed(tr *tracker, hw map[sp]int64, timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		miss := tr.missing(hw)
		if len(miss) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for p, offs := range miss {
				f.t.Errorf("%v: %d records never delivered, first %d", p, len(offs), offs[0])
			}
			f.t.FailNow()
		}
		<-time.After(20 * time.Millisecond)
	}
}

// waitCommitted waits until the group's committed offsets reach hw.
func (f *fixture) waitCommitted(group string, hw map[sp]int64, timeout time.Duration) []client.GroupOffset {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		offs, err := f.cl.FetchGroupOffsets(ctx, group, nil)
		cancel()
		done := err == nil && len(offs) == len(hw)
		for _, o := range offs {
			if o.Err != nil || o.Committed != hw[o.StreamPartition] {
				done = false
			}
		}
		if done {
			return offs
		}
		if time.Now().After(deadline) {
			var got []string
			for _, o := range offs {
				got = append(got, fmt.Sprintf("%v: %d (%v)", o.StreamPartition, o.Committed, o.Err))
			}
			f.t.Fatalf("committed offsets did not reach the high watermarks within %v: %v (err %v), want %v", timeout, got, err, hw)
		}
		<-time.After(20 * time.Millisecond)
	}
}

func sortedSPs(ps []sp) []sp {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b sp) int {
		if a.Stream != b.Stream {
			if a.Stream < b.Stream {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return slices.Compact(out)
}

// api returns a gRPC client of node i's client API.
func (f *fixture) api(i int) sluicev1.SluiceClient {
	f.t.Helper()
	cc, err := grpc.NewClient(f.c.Addrs[i], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = cc.Close() })
	return sluicev1.NewSluiceClient(cc)
}
