package client

import (
	"context"
	"fmt"
	"math/big"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
)

// fakeCluster is an in-memory stand-in for a Sluice cluster: nodes that
// each serve the gRPC API on a loopback listener over one shared state
// (as if replication were instant), with per-partition leaders, producer
// deduplication by (producer id, sequence) like the real server, and a
// fault hook.
type fakeCluster struct {
	t     testing.TB
	nodes []*fakeNode

	mu struct {
		sync.Mutex
		streams       map[string]*fakeStream
		nextPID       int64
		forward       bool                          // a non-leader forwards Produce (else NOT_LEADER)
		hook          func(fakeCall) fault          // may be nil
		calls         map[string]int                // by method
		attempts      []fakeAttempt                 // every Produce that reached a node
		changed       chan struct{}                 // closed and replaced on every change
		called        chan struct{}                 // closed and replaced on every call
		groups        map[string]*fakeGroup         // the fake coordinator's (fakegroup_test.go)
		queues        map[string]*fakeQueue         // the fake queues (fakequeue_test.go)
		qreqs         []fakeQueueReq                // every queue partition request a leader served
		receipts      int                           // receipts handed out
		receiptFaults map[string]sluicev1.ErrorCode // per-receipt errors to answer once (fakequeue_test.go)
	}
}

// fakeCall describes a request to the fault hook.
type fakeCall struct {
	Node      int
	Method    string
	Stream    string
	Partition int32
	N         int // how many calls of Method came before this one
}

// fault is what the hook injects into one call.
type fault struct {
	Delay      time.Duration      // wait first (or until the caller gives up)
	MoveLeader bool               // move the partition's leadership to the next node first
	Before     sluicev1.ErrorCode // fail before doing anything
	After      sluicev1.ErrorCode // do the work, then fail with this code
	HangAfter  bool               // do the work, then never answer (the caller times out)
	Latency    time.Duration      // do the work, then wait this long to answer (a commit)
	NoHint     bool               // a NOT_LEADER names no leader
}

// fakeAttempt is one Produce that reached a node.
type fakeAttempt struct {
	Partition int32
	PID       int64
	Seq       int32
	N         int32
	Bytes     string
}

type fakeNode struct {
	sluicev1.UnimplementedSluiceServer
	fc   *fakeCluster
	idx  int
	id   string
	addr string

	srv  *grpc.Server
	done chan struct{} // closed when Serve returned

	// blind makes the node answer metadata naming no partition leader,
	// as a node cut off from the others does.
	blind atomic.Bool
}

// seen returns s as n answers it: without leaders when n is blind.
func (n *fakeNode) seen(s *sluicev1.Stream) *sluicev1.Stream {
	if n.blind.Load() {
		for _, p := range s.Partitions {
			p.LeaderId, p.LeaderAddr = "", ""
		}
	}
	return s
}

type fakeStream struct {
	name           string
	rf             int
	retentionMs    int64
	retentionBytes int64
	maxRecordBytes int32
	parts          []*fakePart
}

type fakePart struct {
	leader    int
	batches   [][]byte // stamped with base offsets
	bases     []int64
	start     int64 // log start offset
	end       int64 // log end = high watermark
	producers map[int64][]fakeSeqs
}

// fakeSeqs is one remembered idempotent batch.
type fakeSeqs struct {
	first, last int32
	base        int64
}

// newFakeCluster starts n nodes on loopback listeners; they stop when the
// test ends.
func newFakeCluster(t testing.TB, n int) *fakeCluster {
	fc := &fakeCluster{t: t}
	fc.mu.streams = map[string]*fakeStream{}
	fc.mu.nextPID = 1000
	fc.mu.forward = true
	fc.mu.calls = map[string]int{}
	fc.mu.changed = make(chan struct{})
	fc.mu.called = make(chan struct{})
	fc.mu.groups = map[string]*fakeGroup{}
	fc.mu.queues = map[string]*fakeQueue{}
	fc.mu.receiptFaults = map[string]sluicev1.ErrorCode{}
	for i := range n {
		node := &fakeNode{fc: fc, idx: i, id: fmt.Sprint("n", i+1)}
		fc.nodes = append(fc.nodes, node)
		node.start(t, "127.0.0.1:0")
	}
	t.Cleanup(func() {
		for _, node := range fc.nodes {
			node.stop()
		}
	})
	return fc
}

// start serves the node on addr.
func (n *fakeNode) start(t testing.TB, addr string) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n.addr = lis.Addr().String()
	n.srv = grpc.NewServer()
	sluicev1.RegisterSluiceServer(n.srv, n)
	n.done = make(chan struct{})
	go func(srv *grpc.Server, done chan struct{}) {
		defer close(done)
		_ = srv.Serve(lis)
	}(n.srv, n.done)
}

// stop stops the node (closing its connections) and waits for it.
func (n *fakeNode) stop() {
	if n.srv != nil {
		n.srv.Stop()
		<-n.done
		n.srv = nil
	}
}

// restart starts a stopped node again on its address.
func (n *fakeNode) restart(t testing.TB) { n.start(t, n.addr) }

func (fc *fakeCluster) addrs() []string {
	var out []string
	for _, n := range fc.nodes {
		out = append(out, n.addr)
	}
	return out
}

// setHook installs the fault hook (nil: none). It is called with the
// cluster's lock held.
func (fc *fakeCluster) setHook(h func(fakeCall) fault) {
	fc.mu.Lock()
	fc.mu.hook = h
	fc.mu.Unlock()
}

func (fc *fakeCluster) setForward(on bool) {
	fc.mu.Lock()
	fc.mu.forward = on
	fc.mu.Unlock()
}

// calls returns how many calls of method the nodes received.
func (fc *fakeCluster) calls(method string) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.mu.calls[method]
}

// waitCalls waits until the nodes have received n calls of method. A
// call is answered in the critical section that counts it, so the state
// it saw is fixed once it is counted.
func (fc *fakeCluster) waitCalls(ctx context.Context, method string, n int) {
	fc.t.Helper()
	for {
		fc.mu.Lock()
		got, called := fc.mu.calls[method], fc.mu.called
		fc.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-called:
		case <-ctx.Done():
			fc.t.Fatalf("waiting for %d %s calls: %v", n, method, ctx.Err())
		}
	}
}

func (fc *fakeCluster) attempts() []fakeAttempt {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]fakeAttempt(nil), fc.mu.attempts...)
}

// faultLocked counts the call and asks the hook.
func (fc *fakeCluster) faultLocked(c fakeCall) fault {
	c.N = fc.mu.calls[c.Method]
	fc.mu.calls[c.Method]++
	close(fc.mu.called)
	fc.mu.called = make(chan struct{})
	if fc.mu.hook == nil {
		return fault{}
	}
	return fc.mu.hook(c)
}

// changedLocked wakes the waiters on the cluster's state.
func (fc *fakeCluster) changedLocked() {
	close(fc.mu.changed)
	fc.mu.changed = make(chan struct{})
}

// moveLeader makes node the leader of a partition.
func (fc *fakeCluster) moveLeader(stream string, part int32, node int) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.mu.streams[stream].parts[part].leader = node
	fc.changedLocked()
}

func (fc *fakeCluster) leader(stream string, part int32) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.mu.streams[stream].parts[part].leader
}

// createStream creates a stream directly, leaders round robin.
func (fc *fakeCluster) createStream(name string, parts int) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.createLocked(&sluicev1.CreateStreamRequest{Name: name, Partitions: int32(parts)})
}

func (fc *fakeCluster) createLocked(req *sluicev1.CreateStreamRequest) *fakeStream {
	s := &fakeStream{name: req.Name, rf: max(int(req.ReplicationFactor), 1), retentionMs: req.RetentionMs,
		retentionBytes: req.RetentionBytes, maxRecordBytes: req.MaxRecordBytes}
	if s.maxRecordBytes == 0 {
		s.maxRecordBytes = 1 << 20
	}
	for i := range int(req.Partitions) {
		s.parts = append(s.parts, &fakePart{leader: i % len(fc.nodes), producers: map[int64][]fakeSeqs{}})
	}
	fc.mu.streams[req.Name] = s
	return s
}

// truncateFront moves a partition's log start to the first batch
// boundary at or after off (retention).
func (fc *fakeCluster) truncateFront(stream string, part int32, off int64) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	p := fc.mu.streams[stream].parts[part]
	for len(p.batches) > 0 && p.bases[0] < off {
		p.batches, p.bases = p.batches[1:], p.bases[1:]
	}
	p.start = p.end
	if len(p.bases) > 0 {
		p.start = p.bases[0]
	}
}

// records decodes a partition's whole log.
func (fc *fakeCluster) records(stream string, part int32) []batch.Record {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out []batch.Record
	for _, b := range fc.mu.streams[stream].parts[part].batches {
		var err error
		if out, err = batch.DecodeRecords(b, out, 1<<30); err != nil {
			fc.t.Errorf("stored batch does not decode: %v", err)
		}
	}
	return out
}

// appendLocked appends an idempotent or plain batch with the server's
// deduplication rules: a producer's first batch has sequence 0; a batch
// equal to one of its last 5 is a duplicate (answered with its original
// offsets); any other batch must follow the last one.
func (p *fakePart) appendLocked(b []byte, h batch.Header) (*sluicev1.ProduceResponse, error) {
	n := int64(h.LastOffsetDelta) + 1
	last := h.BaseSequence + h.LastOffsetDelta
	if h.ProducerID >= 0 {
		recent, known := p.producers[h.ProducerID]
		for _, r := range recent {
			if r.first == h.BaseSequence && r.last == last {
				return &sluicev1.ProduceResponse{BaseOffset: r.base, LastOffset: r.base + n - 1, Duplicate: true}, nil
			}
		}
		want := int32(0)
		if known {
			want = recent[len(recent)-1].last + 1
		}
		if h.BaseSequence != want {
			return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE,
				fmt.Sprintf("producer %d: sequence %d, want %d", h.ProducerID, h.BaseSequence, want), nil)
		}
		recent = append(recent, fakeSeqs{first: h.BaseSequence, last: last, base: p.end})
		if len(recent) > 5 {
			recent = recent[1:]
		}
		p.producers[h.ProducerID] = recent
	}
	cp := append([]byte(nil), b[:h.Size()]...)
	batch.SetBaseOffset(cp, p.end)
	p.batches = append(p.batches, cp)
	p.bases = append(p.bases, p.end)
	base := p.end
	p.end += n
	return &sluicev1.ProduceResponse{BaseOffset: base, LastOffset: base + n - 1}, nil
}

// readLocked returns the whole batches from the one holding off, up to
// maxBytes (at least one).
func (p *fakePart) readLocked(off int64, maxBytes int) []byte {
	i := sort.Search(len(p.bases), func(i int) bool {
		h, _ := batch.ParseHeader(p.batches[i])
		return h.BaseOffset+int64(h.LastOffsetDelta) >= off
	})
	var out []byte
	for ; i < len(p.batches); i++ {
		if len(out) > 0 && len(out)+len(p.batches[i]) > maxBytes {
			break
		}
		out = append(out, p.batches[i]...)
	}
	return out
}

// fakeErr builds a status error with an ErrorDetail, naming leader when
// given.
func fakeErr(code sluicev1.ErrorCode, msg string, leader *fakeNode) error {
	retriable := false
	switch code {
	case sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER, sluicev1.ErrorCode_ERROR_CODE_NO_LEADER,
		sluicev1.ErrorCode_ERROR_CODE_TIMEOUT, sluicev1.ErrorCode_ERROR_CODE_OUTCOME_UNKNOWN,
		sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE:
		retriable = true
	}
	d := &sluicev1.ErrorDetail{Code: code, Retriable: retriable}
	if leader != nil {
		d.LeaderId, d.LeaderAddr = leader.id, leader.addr
	}
	st, err := status.New(codes.FailedPrecondition, msg).WithDetails(d)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return st.Err()
}

// evenRanges splits the 128-bit hash-key space into n ranges, written
// independently of package metadata with math/big: range i starts at
// floor(i * 2^128 / n).
func evenRanges(n int) (starts, ends [][16]byte) {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	at := func(i int) *big.Int {
		x := new(big.Int).Mul(space, big.NewInt(int64(i)))
		return x.Div(x, big.NewInt(int64(n)))
	}
	for i := range n {
		var s, e [16]byte
		at(i).FillBytes(s[:])
		end := new(big.Int).Sub(at(i+1), big.NewInt(1))
		end.FillBytes(e[:])
		starts, ends = append(starts, s), append(ends, e)
	}
	return starts, ends
}

// wait blocks until ch is closed, d passes or ctx ends.
func wait(ctx context.Context, ch <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}
