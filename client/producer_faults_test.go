package client

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// randomFaults returns a hook that injects, on a seeded share of Produce
// calls: a leader move answered with NOT_LEADER and a hint, a write
// answered with OUTCOME_UNKNOWN, a write never answered (the client's
// attempt times out), TIMEOUT and UNAVAILABLE before writing, and delays
// that make attempts cross.
func randomFaults(seed uint64) func(fakeCall) fault {
	rng := rand.New(rand.NewPCG(seed, 1))
	return func(c fakeCall) fault {
		if c.Method != "Produce" {
			return fault{}
		}
		switch x := rng.IntN(100); {
		case x < 8:
			return fault{MoveLeader: true, Before: sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER}
		case x < 16:
			return fault{After: sluicev1.ErrorCode_ERROR_CODE_OUTCOME_UNKNOWN}
		case x < 19:
			return fault{HangAfter: true}
		case x < 23:
			return fault{Before: sluicev1.ErrorCode_ERROR_CODE_TIMEOUT}
		case x < 26:
			return fault{Before: sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE}
		case x < 40:
			return fault{Delay: time.Duration(rng.IntN(3000)) * time.Microsecond}
		}
		return fault{}
	}
}

// TestExactlyOnceUnderFaults produces keyed records through random faults
// and checks that each is acknowledged exactly once, without error, at
// the offset where the log holds it exactly once, and that each key's
// records are in the log in the order produced.
func TestExactlyOnceUnderFaults(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		for _, inflight := range []int{1, 5} {
			t.Run(fmt.Sprintf("seed%d/inflight%d", seed, inflight), func(t *testing.T) {
				t.Parallel()
				t.Logf("seed %d", seed)
				exactlyOnce(t, seed, inflight)
			})
		}
	}
}

func exactlyOnce(t *testing.T, seed uint64, inflight int) {
	const n, keys, parts = 3000, 40, 4
	fc := newFakeCluster(t, 3)
	fc.createStream("s", parts)
	fc.setForward(false) // a non-leader answers NOT_LEADER
	c := newTestClient(t, fc, func(cfg *Config) { cfg.RequestTimeout = 200 * time.Millisecond })
	fc.setHook(randomFaults(seed))
	p := newTestProducer(t, c, ProducerConfig{MaxInFlight: inflight, BatchBytes: 600, Linger: time.Millisecond})
	ctx := testCtx(t)
	col := newCollector(n)
	for i := range n {
		key := fmt.Sprint("key", i%keys)
		p.Produce(ctx, NewRecord("s", []byte(key), []byte(fmt.Sprintf("%s/%d", key, i))), col.cb(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fc.setHook(nil)
	logs := make([][]string, parts)
	for part := range int32(parts) {
		for _, r := range fc.records("s", part) {
			logs[part] = append(logs[part], string(r.Value))
		}
	}
	where := map[string]int{} // value -> times in any log
	lastOfKey := map[string]int{}
	for part, l := range logs {
		for _, v := range l {
			where[v]++
			key, i, _ := strings.Cut(v, "/")
			seq, _ := strconv.Atoi(i)
			if last, ok := lastOfKey[key]; ok && seq <= last {
				t.Errorf("partition %d: %s after %s/%d", part, v, key, last)
			}
			lastOfKey[key] = seq
		}
	}
	for i := range n {
		key := fmt.Sprint("key", i%keys)
		v := fmt.Sprintf("%s/%d", key, i)
		r, err := col.results[i], col.errs[i]
		switch {
		case col.calls[i] != 1:
			t.Errorf("record %d: %d callbacks", i, col.calls[i])
		case err != nil:
			t.Errorf("record %d: %v", i, err)
		case where[v] != 1:
			t.Errorf("record %d is %d times in the logs", i, where[v])
		case r.Offset < 0 || int(r.Offset) >= len(logs[r.Partition]) || logs[r.Partition][r.Offset] != v:
			t.Errorf("record %d acknowledged at %d/%d, which does not hold it", i, r.Partition, r.Offset)
		}
	}
	if t.Failed() {
		return
	}
	// Retries re-sent the very same bytes: one content per sequence.
	att := fc.attempts()
	type key struct {
		part int32
		pid  int64
		seq  int32
	}
	first := map[key]string{}
	retries := 0
	for _, a := range att {
		k := key{a.Partition, a.PID, a.Seq}
		if b, ok := first[k]; !ok {
			first[k] = a.Bytes
		} else if retries++; b != a.Bytes {
			t.Errorf("partition %d producer %d sequence %d was re-sent with other bytes", a.Partition, a.PID, a.Seq)
		}
	}
	if retries == 0 {
		t.Error("no batch was retried: the faults did not bite")
	}
	t.Logf("%d attempts, %d batches", len(att), len(first))
}

// TestSequenceBreak fails one batch for good in the middle of a pipeline
// and checks that its records get the error, that later batches move to a
// new producer id and are written exactly once, in order.
func TestSequenceBreak(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	fc.setHook(func(call fakeCall) fault {
		switch {
		case call.Method != "Produce":
		case call.N == 3:
			return fault{Before: sluicev1.ErrorCode_ERROR_CODE_RECORD_TOO_LARGE}
		case call.N < 12:
			return fault{Latency: 20 * time.Millisecond} // keep the pipeline full
		}
		return fault{}
	})
	const n = 200
	p := newTestProducer(t, c, ProducerConfig{BatchBytes: 200, Linger: -1})
	ctx := testCtx(t)
	col := newCollector(n)
	for i := range n {
		p.Produce(ctx, Record{Stream: "s", Value: []byte(fmt.Sprint(i))}, col.cb(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for i := range n {
		if col.calls[i] != 1 {
			t.Fatalf("record %d: %d callbacks", i, col.calls[i])
		}
		if col.errs[i] != nil {
			if !errors.Is(col.errs[i], ErrRecordTooLarge) {
				t.Errorf("record %d: %v", i, col.errs[i])
			}
			failed[fmt.Sprint(i)] = true
		}
	}
	if len(failed) == 0 || len(failed) == n {
		t.Fatalf("%d records failed", len(failed))
	}
	var log []string
	for _, r := range fc.records("s", 0) {
		log = append(log, string(r.Value))
	}
	var want []string
	for i := range n {
		if !failed[fmt.Sprint(i)] {
			want = append(want, fmt.Sprint(i))
		}
	}
	if strings.Join(log, ",") != strings.Join(want, ",") {
		t.Errorf("log %v\nwant %v", log, want)
	}
	pids := map[int64]bool{}
	for _, a := range fc.attempts() {
		pids[a.PID] = true
	}
	if len(pids) != 2 {
		t.Errorf("producer ids used: %v, want 2", pids)
	}
}

// TestNotIdempotent checks the producer without idempotence: no producer
// id, and records still arrive (faults without duplicates here).
func TestNotIdempotent(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 2)
	fc.createStream("s", 2)
	c := newTestClient(t, fc, nil)
	fc.setHook(func(call fakeCall) fault {
		if call.Method == "Produce" && call.N%3 == 0 {
			return fault{MoveLeader: true, Before: sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER}
		}
		return fault{}
	})
	p := newTestProducer(t, c, ProducerConfig{DisableIdempotence: true})
	var recs []Record
	for i := range 50 {
		recs = append(recs, NewRecord("s", []byte(fmt.Sprint(i)), []byte(fmt.Sprint(i))))
	}
	res, err := p.ProduceSync(testCtx(t), recs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if got := fc.records("s", r.Partition)[r.Offset]; !bytes.Equal(got.Value, recs[i].Value) {
			t.Errorf("record %d: the log holds %q at its offset", i, got.Value)
		}
	}
	if fc.calls("InitProducer") != 0 {
		t.Error("a producer id was asked for")
	}
	for _, a := range fc.attempts() {
		if a.PID != -1 {
			t.Fatalf("batch with producer id %d", a.PID)
		}
	}
}
