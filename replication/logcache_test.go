package replication

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// countingStore counts the GetLog calls that reach the store and can fail
// StoreLogs.
type countingStore struct {
	*raft.InmemStore
	gets     int
	storeErr error
}

func (s *countingStore) GetLog(index uint64, l *raft.Log) error {
	s.gets++
	return s.InmemStore.GetLog(index, l)
}

func (s *countingStore) StoreLogs(logs []*raft.Log) error {
	if s.storeErr != nil {
		return s.storeErr
	}
	return s.InmemStore.StoreLogs(logs)
}

func entries(lo, hi uint64, size int) []*raft.Log {
	var out []*raft.Log
	for i := lo; i <= hi; i++ {
		out = append(out, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, size)})
	}
	return out
}

func TestLogCacheServesRecentEntries(t *testing.T) {
	s := &countingStore{InmemStore: raft.NewInmemStore()}
	c := newLogCache(s)
	if err := c.StoreLogs(entries(1, 10, 100)); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 10; i++ {
		var l raft.Log
		if err := c.GetLog(i, &l); err != nil {
			t.Fatal(err)
		}
		if l.Index != i || len(l.Data) != 100 || l.Data[0] != byte(i) {
			t.Fatalf("entry %d: got index %d, %d bytes", i, l.Index, len(l.Data))
		}
	}
	if s.gets != 0 {
		t.Fatalf("%d reads reached the store, want 0", s.gets)
	}
	var l raft.Log
	if err := c.GetLog(11, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("missing entry: %v, want raft.ErrLogNotFound", err)
	}
}

func TestLogCacheBounds(t *testing.T) {
	s := &countingStore{InmemStore: raft.NewInmemStore()}
	c := newLogCache(s)
	// Entries of 1 MiB: the byte bound keeps the newest four.
	if err := c.StoreLogs(entries(1, 8, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if c.mu.bytes > logCacheBytes {
		t.Fatalf("cache holds %d bytes, bound %d", c.mu.bytes, logCacheBytes)
	}
	for i := uint64(1); i <= 8; i++ {
		var l raft.Log
		if err := c.GetLog(i, &l); err != nil || l.Index != i {
			t.Fatalf("entry %d: %v (index %d)", i, err, l.Index)
		}
	}
	if s.gets != 4 {
		t.Fatalf("%d reads reached the store, want the 4 evicted entries", s.gets)
	}
	// Small entries: the entry bound (the ring) keeps the newest
	// logCacheEntries.
	s.gets = 0
	n := uint64(logCacheEntries)
	if err := c.StoreLogs(entries(9, 8+2*n, 10)); err != nil {
		t.Fatal(err)
	}
	for i := uint64(9); i <= 8+2*n; i++ {
		var l raft.Log
		if err := c.GetLog(i, &l); err != nil || l.Index != i {
			t.Fatalf("entry %d: %v (index %d)", i, err, l.Index)
		}
	}
	if s.gets != int(n) {
		t.Fatalf("%d reads reached the store, want %d", s.gets, n)
	}
	if want := int(n) * 10; c.mu.bytes != want {
		t.Fatalf("cache accounts %d bytes, want %d", c.mu.bytes, want)
	}
}

func TestLogCacheDeleteRangeAndErrors(t *testing.T) {
	s := &countingStore{InmemStore: raft.NewInmemStore()}
	c := newLogCache(s)
	if err := c.StoreLogs(entries(1, 10, 10)); err != nil {
		t.Fatal(err)
	}
	// A follower cutting a conflicting suffix, then storing new entries.
	if err := c.DeleteRange(6, 10); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := c.GetLog(7, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("deleted entry: %v, want raft.ErrLogNotFound", err)
	}
	repl := entries(6, 7, 10)
	repl[0].Term, repl[1].Term = 2, 2
	if err := c.StoreLogs(repl); err != nil {
		t.Fatal(err)
	}
	if err := c.GetLog(6, &l); err != nil || l.Term != 2 {
		t.Fatalf("replaced entry: %v, term %d", err, l.Term)
	}
	// A failed store caches nothing and returns the store's error as is.
	s.storeErr = ErrStoreFailed
	if err := c.StoreLogs(entries(8, 8, 10)); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("store error: %v, want ErrStoreFailed", err)
	}
	if err := c.GetLog(8, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("entry of a failed store: %v, want raft.ErrLogNotFound", err)
	}
}
