package history

import (
	"sync"
	"testing"
)

func TestRecorderConcurrent(t *testing.T) {
	const procs, each = 40, 500
	r := NewRecorder()
	var wg sync.WaitGroup
	for p := range procs {
		wg.Go(func() {
			for i := range each {
				t0 := r.Now()
				r.Append(Op{ID: 12345, Process: p, Kind: KindProduce, Outcome: OK, Invoke: t0, Complete: r.Now(),
					Produce: &Produce{Stream: "s", Partition: 0, Value: NewValue("p", int64(p*each+i)),
						Producer: "p", Seq: int64(i), Result: &Position{Partition: 0, Offset: int64(i)}}})
			}
		})
	}
	wg.Wait()
	ops := r.Ops()
	if len(ops) != procs*each || r.Len() != procs*each {
		t.Fatalf("%d ops, Len %d", len(ops), r.Len())
	}
	last := make([]int64, procs) // per process: the last seq, appends of one process keep their order
	for i := range last {
		last[i] = -1
	}
	for i, op := range ops {
		if op.ID != int64(i) {
			t.Fatalf("op %d has ID %d", i, op.ID)
		}
		if op.Produce.Seq != last[op.Process]+1 {
			t.Fatalf("process %d: seq %d after %d", op.Process, op.Produce.Seq, last[op.Process])
		}
		last[op.Process] = op.Produce.Seq
		if op.Complete < op.Invoke {
			t.Fatalf("op %d completes before it starts", i)
		}
	}
	if err := ValidateHistory(ops); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkRecorderAppend(b *testing.B) {
	r := NewRecorder()
	p := &Produce{Stream: "s", Partition: 0, Value: "v", Producer: "p"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		proc := int(r.Now()) // spread the goroutines over shards
		for pb.Next() {
			r.Append(Op{Process: proc, Kind: KindProduce, Outcome: Unknown, Produce: p})
		}
	})
}
