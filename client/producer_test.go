package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// collector gathers the results of async produces.
type collector struct {
	mu      sync.Mutex
	results map[int]RecordResult
	errs    map[int]error
	calls   map[int]int
	done    chan int
}

func newCollector(n int) *collector {
	return &collector{results: map[int]RecordResult{}, errs: map[int]error{}, calls: map[int]int{}, done: make(chan int, n)}
}

func (c *collector) cb(i int) func(RecordResult, error) {
	return func(r RecordResult, err error) {
		c.mu.Lock()
		c.results[i], c.errs[i] = r, err
		c.calls[i]++
		c.mu.Unlock()
		c.done <- i
	}
}

func TestProduceSync(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 3)
	fc.createStream("s", 3)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{})
	ctx := testCtx(t)
	var recs []Record
	for i := range 30 {
		recs = append(recs, NewRecord("s", []byte(fmt.Sprint("k", i%5)), []byte(fmt.Sprint(i))))
	}
	res, err := p.ProduceSync(ctx, recs...)
	if err != nil {
		t.Fatal(err)
	}
	parts := evenParts(3)
	next := map[int32]int64{}
	for i, r := range res {
		if want := int32(partitionForHashKey(parts, HashKey(recs[i].Key))); r.Partition != want {
			t.Errorf("record %d in partition %d, want %d", i, r.Partition, want)
		}
		if r.Offset != next[r.Partition] {
			t.Errorf("record %d at offset %d, want %d", i, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		got := fc.records("s", r.Partition)[r.Offset]
		if string(got.Value) != fmt.Sprint(i) || string(got.Key) != string(recs[i].Key) {
			t.Errorf("record %d: the log holds %q=%q", i, got.Key, got.Value)
		}
	}
	// Explicit partition, headers and timestamp.
	ts := time.UnixMilli(1_600_000_000_123)
	res, err = p.ProduceSync(ctx, Record{Stream: "s", Partition: 2, Value: []byte("x"), Timestamp: ts,
		Headers: []Header{{Key: "h", Value: []byte("1")}}})
	if err != nil || res[0].Partition != 2 || !res[0].Timestamp.Equal(ts) {
		t.Fatalf("explicit partition: %+v, %v", res, err)
	}
	got := fc.records("s", 2)[res[0].Offset]
	if got.Timestamp != ts.UnixMilli() || len(got.Headers) != 1 || got.Headers[0].Key != "h" {
		t.Errorf("stored %+v", got)
	}
}

func TestProduceRefused(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 2)
	c := newTestClient(t, fc, nil)
	ctx := testCtx(t)
	if _, err := c.CreateStream(ctx, StreamConfig{Name: "small", Partitions: 1, MaxRecordBytes: 64}); err != nil {
		t.Fatal(err)
	}
	p := newTestProducer(t, c, ProducerConfig{MaxRecordBytes: 100})
	tests := []struct {
		name string
		rec  Record
		want error
	}{
		{"over the producer's limit", NewRecord("s", nil, make([]byte, 200)), ErrRecordTooLarge},
		{"over the stream's limit", NewRecord("small", nil, make([]byte, 80)), ErrRecordTooLarge},
		{"unknown stream", NewRecord("nope", nil, nil), ErrUnknownStream},
		{"unknown partition", Record{Stream: "s", Partition: 2}, ErrUnknownPartition},
		{"bad partition", Record{Stream: "s", Partition: -2}, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.ProduceSync(ctx, tt.rec); !errors.Is(err, tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	if n := fc.calls("Produce"); n != 0 {
		t.Errorf("%d Produce calls reached the cluster", n)
	}
	if _, err := c.NewProducer(ProducerConfig{MaxInFlight: 6}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("MaxInFlight 6 with idempotence: %v", err)
	}
	if _, err := c.NewProducer(ProducerConfig{Compression: 9}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("unknown compression: %v", err)
	}
}

// TestBatching checks that batches are sealed by size without waiting for
// the linger, that a partial batch waits for the linger (or Flush), and
// that batches stay within BatchBytes.
func TestBatching(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	const batchBytes = 1000
	p := newTestProducer(t, c, ProducerConfig{Linger: time.Hour, BatchBytes: batchBytes})
	ctx := testCtx(t)
	value := make([]byte, 100)
	size := recordSize(&Record{Value: value})
	perBatch := batchBytes / size
	n := 3*perBatch + perBatch/2
	col := newCollector(n)
	for i := range n {
		p.Produce(ctx, Record{Stream: "s", Value: value}, col.cb(i))
	}
	// The three full batches go without the linger.
	for range 3 * perBatch {
		select {
		case <-col.done:
		case <-ctx.Done():
			t.Fatal("full batches were not sent")
		}
	}
	// The partial batch cannot have gone: the linger is an hour.
	if len(col.done) != 0 {
		t.Fatalf("%d results of the partial batch before Flush", len(col.done))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(col.done) != n-3*perBatch {
		t.Fatalf("%d results after Flush, want %d", len(col.done), n-3*perBatch)
	}
	t.Logf("attempts %d", len(fc.attempts()))
	att := firstAttempts(fc.attempts())
	if len(att) != 4 {
		t.Fatalf("%d batches, want 4", len(att))
	}
	for i, a := range att {
		if int(a.N)*size > batchBytes || i < 3 && int(a.N) != perBatch {
			t.Errorf("batch %d has %d records of %d bytes", i, a.N, size)
		}
	}
	for i := range n {
		if col.errs[i] != nil || col.results[i].Offset != int64(i) || col.calls[i] != 1 {
			t.Errorf("record %d: %+v, %v, %d calls", i, col.results[i], col.errs[i], col.calls[i])
		}
	}
}

// TestLinger checks that a partial batch goes once the linger passes.
func TestLinger(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	for _, linger := range []time.Duration{-1, 0, 20 * time.Millisecond} {
		p := newTestProducer(t, c, ProducerConfig{Linger: linger})
		start := time.Now()
		if _, err := p.ProduceSync(testCtx(t), NewRecord("s", []byte("k"), []byte("v"))); err != nil {
			t.Fatal(err)
		}
		if linger > 0 && time.Since(start) < linger {
			t.Errorf("linger %v: sent after %v", linger, time.Since(start))
		}
	}
}

// TestBackpressure checks that Produce blocks while the buffer is full.
func TestBackpressure(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	value := make([]byte, 100)
	size := recordSize(&Record{Value: value})
	p := newTestProducer(t, c, ProducerConfig{Linger: time.Hour, BufferBytes: 5 * size})
	ctx := testCtx(t)
	col := newCollector(6)
	for i := range 5 {
		p.Produce(ctx, Record{Stream: "s", Value: value}, col.cb(i))
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	p.Produce(short, Record{Stream: "s", Value: value}, col.cb(5))
	<-col.done
	if !errors.Is(col.errs[5], context.DeadlineExceeded) {
		t.Fatalf("Produce into a full buffer: %v", col.errs[5])
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// There is room again: Produce does not block (the short context
	// would end it).
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	col2 := newCollector(1)
	p.Produce(short2, Record{Stream: "s", Value: value}, col2.cb(0))
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if col2.errs[0] != nil {
		t.Errorf("Produce after Flush: %v", col2.errs[0])
	}
}

// TestKeylessSticky checks that records without a key fill one
// partition's batch, then move on.
func TestKeylessSticky(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 3)
	c := newTestClient(t, fc, nil)
	value := make([]byte, 100)
	size := recordSize(&Record{Value: value})
	perBatch := 4
	p := newTestProducer(t, c, ProducerConfig{Linger: time.Hour, BatchBytes: perBatch * size})
	recs := make([]Record, 6*perBatch)
	for i := range recs {
		recs[i] = NewRecord("s", nil, value)
	}
	res, err := p.ProduceSync(testCtx(t), recs...)
	if err != nil {
		t.Fatal(err)
	}
	used := map[int32]bool{}
	for i, r := range res {
		used[r.Partition] = true
		if i%perBatch != 0 && r.Partition != res[i-1].Partition {
			t.Errorf("record %d in partition %d, the one before in %d", i, r.Partition, res[i-1].Partition)
		}
		if i%perBatch == 0 && i > 0 && r.Partition != (res[i-1].Partition+1)%3 {
			t.Errorf("batch of record %d in partition %d after %d", i, r.Partition, res[i-1].Partition)
		}
	}
	if len(used) != 3 {
		t.Errorf("partitions used: %v", used)
	}
}

// TestProducerClose checks that Close fails what cannot be sent in time
// with ErrClosed, that the producer refuses records afterwards, and that
// it is idempotent.
func TestProducerClose(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 2)
	c := newTestClient(t, fc, func(cfg *Config) { cfg.RequestTimeout = time.Minute })
	fc.setHook(func(call fakeCall) fault {
		if call.Method == "Produce" && call.Partition == 1 {
			return fault{Delay: time.Hour} // never answers
		}
		return fault{}
	})
	p, err := c.NewProducer(ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	col := newCollector(20)
	for i := range 20 {
		p.Produce(ctx, Record{Stream: "s", Partition: int32(i % 2), Value: []byte("v")}, col.cb(i))
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := p.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v", err)
	}
	if len(col.done) != 20 {
		t.Fatalf("%d of 20 callbacks after Close", len(col.done))
	}
	for i := range 20 {
		if want := error(nil); i%2 == 1 {
			if !errors.Is(col.errs[i], ErrClosed) {
				t.Errorf("record %d (stuck partition): %v", i, col.errs[i])
			}
		} else if col.errs[i] != want {
			t.Errorf("record %d: %v", i, col.errs[i])
		}
	}
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.ProduceSync(ctx, NewRecord("s", nil, nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("Produce after Close: %v", err)
	}
}

// firstAttempts drops the retries of a batch (same producer id and
// sequence): attempts may cross on the wire and be resent.
func firstAttempts(att []fakeAttempt) []fakeAttempt {
	type key struct {
		part int32
		pid  int64
		seq  int32
	}
	seen := map[key]bool{}
	var out []fakeAttempt
	for _, a := range att {
		k := key{a.Partition, a.PID, a.Seq}
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}
