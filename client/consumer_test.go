package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// produceN writes n records with values "<from+i>" to a partition
// (flushing: the producer's linger may be long).
func produceN(t *testing.T, p *Producer, stream string, part int32, from, n int) {
	t.Helper()
	ctx := testCtx(t)
	col := newCollector(n)
	for i := range n {
		p.Produce(ctx, Record{Stream: stream, Partition: part, Key: []byte("k"), Value: []byte(fmt.Sprint(from + i)),
			Timestamp: time.UnixMilli(int64(1000 * (from + i + 1)))}, col.cb(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if col.errs[i] != nil {
			t.Fatalf("record %d: %v", i, col.errs[i])
		}
	}
}

// pollUntil polls until it has n records or the test's context ends.
func pollUntil(t *testing.T, k *Consumer, n int) []Record {
	t.Helper()
	ctx := testCtx(t)
	var out []Record
	for len(out) < n {
		recs, err := k.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll after %d records: %v", len(out), err)
		}
		out = append(out, recs...)
	}
	return out
}

// checkSequence checks that recs of one partition are values from..from+n-1
// at consecutive offsets.
func checkSequence(t *testing.T, recs []Record, from int) {
	t.Helper()
	for i, r := range recs {
		if string(r.Value) != fmt.Sprint(from+i) || i > 0 && r.Offset != recs[i-1].Offset+1 {
			t.Fatalf("record %d: offset %d value %q, want value %d", i, r.Offset, r.Value, from+i)
		}
	}
}

func TestConsumeStartAt(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 2)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{Linger: time.Hour, BatchBytes: 200}) // batches of several records
	produceN(t, p, "s", 0, 0, 50)
	tests := []struct {
		name  string
		at    StartAt
		first int
	}{
		{"earliest", Earliest(), 0},
		{"offset in a batch", Offset(13), 13},
		{"time", Time(time.UnixMilli(20_500)), 20},
		{"latest", Latest(), 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, follow := range []bool{false, true} {
				k := newTestConsumer(t, c, ConsumerConfig{Follow: follow, MaxWait: 20 * time.Millisecond})
				if err := k.Assign(testCtx(t), "s", []int32{0}, tt.at); err != nil {
					t.Fatal(err)
				}
				if tt.first == 50 {
					ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
					recs, err := k.Poll(ctx)
					cancel()
					if !errors.Is(err, context.DeadlineExceeded) || len(recs) != 0 {
						t.Fatalf("Poll at the end: %d records, %v", len(recs), err)
					}
				}
				recs := pollUntil(t, k, 50-tt.first)
				if tt.first == 50 {
					continue
				}
				checkSequence(t, recs, tt.first)
				if r := recs[0]; r.Stream != "s" || r.Partition != 0 || string(r.Key) != "k" ||
					!r.Timestamp.Equal(time.UnixMilli(int64(1000*(tt.first+1)))) {
					t.Errorf("first record %+v", r)
				}
				if pos, ok := k.Position("s", 0); !ok || pos != 50 {
					t.Errorf("Position = %d, %v", pos, ok)
				}
				k.Close()
			}
		})
	}
	t.Run("latest then new records", func(t *testing.T) {
		k := newTestConsumer(t, c, ConsumerConfig{})
		// Latest is resolved by the fetcher's ListOffsets; produce after
		// it was answered. (Counting Fetch calls would not do: a fetch
		// handler of an earlier, closed consumer may still be looping.)
		resolved := fc.calls("ListOffsets") + 1
		if err := k.Assign(testCtx(t), "s", nil, Latest()); err != nil {
			t.Fatal(err)
		}
		fc.waitCalls(testCtx(t), "ListOffsets", resolved)
		produceN(t, p, "s", 0, 50, 5)
		checkSequence(t, pollUntil(t, k, 5), 50)
	})
}

// TestConsumeCompressed reads batches of every codec, starting inside one.
func TestConsumeCompressed(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 5)
	c := newTestClient(t, fc, nil)
	for codec := CompressionNone; codec <= CompressionZstd; codec++ {
		p := newTestProducer(t, c, ProducerConfig{Compression: codec, Linger: time.Hour})
		produceN(t, p, "s", int32(codec), 0, 40) // one batch
		k := newTestConsumer(t, c, ConsumerConfig{})
		if err := k.Assign(testCtx(t), "s", []int32{int32(codec)}, Offset(7)); err != nil {
			t.Fatal(err)
		}
		checkSequence(t, pollUntil(t, k, 33), 7)
	}
}

// TestConsumerLeaderSwitch moves partition leaders while a consumer reads
// and a producer writes, and checks that every record is read once, in
// order.
func TestConsumerLeaderSwitch(t *testing.T) {
	t.Parallel()
	for _, follow := range []bool{false, true} {
		t.Run(fmt.Sprint("follow=", follow), func(t *testing.T) {
			t.Parallel()
			const parts, n = 3, 400
			fc := newFakeCluster(t, 3)
			fc.createStream("s", parts)
			c := newTestClient(t, fc, nil)
			p := newTestProducer(t, c, ProducerConfig{BatchBytes: 300})
			for part := range int32(parts) {
				produceN(t, p, "s", part, 0, n/2)
			}
			fc.setHook(func(call fakeCall) fault {
				if (call.Method == "Fetch" || call.Method == "Follow") && call.N%5 == 4 {
					return fault{MoveLeader: true}
				}
				return fault{}
			})
			k := newTestConsumer(t, c, ConsumerConfig{Follow: follow, MaxWait: 10 * time.Millisecond, FetchBytes: 200})
			if err := k.Assign(testCtx(t), "s", nil, Earliest()); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for part := range int32(parts) {
					produceN(t, p, "s", part, n/2, n/2)
				}
			}()
			got := map[int32][]Record{}
			for _, r := range pollUntil(t, k, parts*n) {
				got[r.Partition] = append(got[r.Partition], r)
			}
			<-done
			for part := range int32(parts) {
				if len(got[part]) != n {
					t.Errorf("partition %d: %d records", part, len(got[part]))
				}
				checkSequence(t, got[part], 0)
			}
			if fc.calls("ListOffsets") < parts {
				t.Errorf("%d ListOffsets", fc.calls("ListOffsets"))
			}
		})
	}
}

// TestConsumerNodeDown stops the node leading a partition and moves the
// leadership: the consumer (and the producer) refresh their metadata from
// another node and resume at the next offset. Then the node comes back.
func TestConsumerNodeDown(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 3)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, func(cfg *Config) { cfg.DialTimeout = 200 * time.Millisecond })
	p := newTestProducer(t, c, ProducerConfig{})
	produceN(t, p, "s", 0, 0, 30)
	k := newTestConsumer(t, c, ConsumerConfig{MaxWait: 10 * time.Millisecond})
	if err := k.Assign(testCtx(t), "s", nil, Earliest()); err != nil {
		t.Fatal(err)
	}
	first := pollUntil(t, k, 30)
	old := fc.leader("s", 0)
	fc.nodes[old].stop()
	fc.moveLeader("s", 0, (old+1)%3)
	produceN(t, p, "s", 0, 30, 30)
	second := pollUntil(t, k, 30)
	// The node comes back and leads again: the client reconnects to it.
	fc.nodes[old].restart(t)
	fc.moveLeader("s", 0, old)
	produceN(t, p, "s", 0, 60, 30)
	checkSequence(t, append(append(first, second...), pollUntil(t, k, 30)...), 0)
}

// TestOffsetOutOfRange checks the three reset policies when the requested
// offset is below the log start.
func TestOffsetOutOfRange(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{Linger: -1})
	for i := range 4 {
		produceN(t, p, "s", 0, 10*i, 10) // batches of 10
	}
	fc.truncateFront("s", 0, 20)
	lists := fc.calls("ListOffsets")
	tests := []struct {
		reset OffsetReset
		first int
		err   error
	}{{ResetEarliest, 20, nil}, {ResetLatest, 40, nil}, {ResetNone, 0, ErrOffsetOutOfRange}}
	for _, tt := range tests {
		k := newTestConsumer(t, c, ConsumerConfig{OffsetReset: tt.reset, MaxWait: 10 * time.Millisecond})
		if err := k.Assign(testCtx(t), "s", nil, Offset(5)); err != nil {
			t.Fatal(err)
		}
		if tt.err != nil {
			if _, err := k.Poll(testCtx(t)); !errors.Is(err, tt.err) {
				t.Errorf("reset %d: Poll: %v", tt.reset, err)
			}
			if _, err := k.Poll(testCtx(t)); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("Poll after the partition stopped: %v", err)
			}
			continue
		}
		if tt.first == 40 {
			lists += 1
			fc.waitCalls(testCtx(t), "ListOffsets", lists) // latest resolved: produce after
			produceN(t, p, "s", 0, 40, 5)
			checkSequence(t, pollUntil(t, k, 5), 40)
			continue
		}
		checkSequence(t, pollUntil(t, k, 20), 20)
		lists++
	}
}

// TestAssign covers reassignment, Unassign and the argument checks.
func TestAssign(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 2)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{})
	produceN(t, p, "s", 0, 0, 20)
	ctx := testCtx(t)
	k := newTestConsumer(t, c, ConsumerConfig{MaxWait: 10 * time.Millisecond})
	for _, tt := range []struct {
		stream string
		parts  []int32
		at     StartAt
		want   error
	}{
		{"nope", nil, Earliest(), ErrUnknownStream},
		{"s", []int32{2}, Earliest(), ErrUnknownPartition},
		{"s", []int32{0}, Offset(-1), ErrInvalidArgument},
	} {
		if err := k.Assign(ctx, tt.stream, tt.parts, tt.at); !errors.Is(err, tt.want) {
			t.Errorf("Assign(%s, %v, %v): %v, want %v", tt.stream, tt.parts, tt.at, err, tt.want)
		}
	}
	if _, err := k.Poll(ctx); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Poll with nothing assigned: %v", err)
	}
	if err := k.Assign(ctx, "s", []int32{0}, Earliest()); err != nil {
		t.Fatal(err)
	}
	checkSequence(t, pollUntil(t, k, 20), 0)
	if err := k.Assign(ctx, "s", []int32{0}, Offset(15)); err != nil { // starts over
		t.Fatal(err)
	}
	checkSequence(t, pollUntil(t, k, 5), 15)
	k.Unassign("s", nil)
	if _, err := k.Poll(ctx); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Poll after Unassign: %v", err)
	}
	k.Close()
	if _, err := k.Poll(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Poll after Close: %v", err)
	}
	if err := k.Assign(ctx, "s", nil, Earliest()); !errors.Is(err, ErrClosed) {
		t.Errorf("Assign after Close: %v", err)
	}
}

// TestConsumerFatalError checks that a fatal error stops the partition
// and comes out of Poll.
func TestConsumerFatalError(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	k := newTestConsumer(t, c, ConsumerConfig{MaxWait: 10 * time.Millisecond})
	if err := k.Assign(testCtx(t), "s", nil, Earliest()); err != nil {
		t.Fatal(err)
	}
	fc.setHook(func(call fakeCall) fault {
		if call.Method == "Fetch" {
			return fault{Before: sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT}
		}
		return fault{}
	})
	_, err := k.Poll(testCtx(t))
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Poll: %v", err)
	}
	if want := `stream "s" partition 0: sluice: invalid argument: injected`; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
}
