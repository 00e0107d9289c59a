package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// Key layout of the raft data in the node's Pebble; on-disk format; never
// change:
//
//	log entry:    0x01 | len(id) | id | 0x01 | index (8 bytes, big-endian)
//	stable value: 0x01 | len(id) | id | 0x02 | key (raft's key bytes, any length)
//
// The first byte 0x01 (keyPrefixRaft) marks raft data; other users of the
// node's Pebble must use other first bytes. len(id) is one byte, 1..255:
// because the id is length-prefixed, no group's keys are a prefix of
// another group's ("a" and "ab", "1" and "10" live in disjoint key ranges)
// and each group is one contiguous range. The kind byte (0x01 log, 0x02
// stable; 0xff is never a kind) separates a group's log from its stable
// state. The index is big-endian so that Pebble's byte order is index
// order: the first and last keys of the log range hold FirstIndex and
// LastIndex.
//
// The value of a log entry is the entry codec of entry.go. A stable value
// is raft's bytes as given; SetUint64 stores 8 bytes big-endian.
const (
	keyPrefixRaft      byte = 0x01
	kindLog            byte = 0x01
	kindStable         byte = 0x02
	maxStoreGroupIDLen      = 255
)

// Store keeps the raft log and stable state of every raft group of a node
// in one Pebble DB, which the caller opens before NewStore and closes after
// the last use of the Store and its GroupStores (and after shutting down
// the raft instances that use them).
//
// Every write is committed with pebble.Sync: the raft log is the WAL of the
// node. Writes of different groups commit concurrently and share fsyncs in
// Pebble's commit pipeline. After any write fails the Store is failed (see
// ErrStoreFailed and Err): no later write of any group reaches Pebble.
//
// Pebble (v2.1) treats a failed WAL write or fsync as fatal: DB.Apply
// passes it to Options.Logger.Fatalf (the default logger exits the
// process) and returns nil if Fatalf returns, and once the WAL writer has
// failed a later commit can panic. The Store reads the error through
// SyncWait instead and stops writing, but other writers of the same DB use
// Apply: open the DB with a Logger whose Fatalf does not return.
//
// A Store and its GroupStores are safe for concurrent use.
type Store struct {
	db *pebble.DB

	// failure holds the first write error; nil while the store is healthy.
	// Invariant: set at most once, never cleared.
	failure atomic.Pointer[error]

	mu struct {
		sync.Mutex
		// groups holds every GroupStore handed out, by id, so that one id
		// always has one GroupStore (one writer lock, one index cache).
		// Protected by mu.
		groups map[string]*GroupStore
	}
}

// NewStore returns a Store over db. It does not read or write anything.
func NewStore(db *pebble.DB) *Store {
	s := &Store{db: db}
	s.mu.groups = make(map[string]*GroupStore)
	return s
}

// Err returns nil while the store takes writes, and an error wrapping
// ErrStoreFailed and the first write error once one failed. The node
// should then fail-stop (see ErrStoreFailed).
func (s *Store) Err() error {
	if p := s.failure.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrStoreFailed, *p)
	}
	return nil
}

// commit applies b with pebble.Sync and waits for the WAL fsync, unless
// the store has failed; an error fails the store. Any error it returns
// wraps ErrStoreFailed: a failed commit may or may not be durable, and is
// even visible to reads (Pebble applies a batch to its memtable before the
// fsync reports), so the caller must treat its outcome as unknown.
//
// It uses ApplyNoSyncWait and SyncWait rather than Apply (Batch.Commit,
// DB.Set) because Apply does not return a failed WAL write or fsync:
// Pebble hands it to Options.Logger.Fatalf and, if that returns, reports
// success. SyncWait returns it.
func (s *Store) commit(b *pebble.Batch) error {
	if err := s.Err(); err != nil {
		return err
	}
	err := s.db.ApplyNoSyncWait(b, pebble.Sync)
	if err == nil {
		err = b.SyncWait()
	}
	if err != nil {
		s.fail(err)
		return fmt.Errorf("%w: %w", ErrStoreFailed, err)
	}
	return nil
}

// fail records err as the store's failure unless one is recorded already.
func (s *Store) fail(err error) {
	s.failure.CompareAndSwap(nil, &err)
}

// Group returns the store of the raft group id, which implements
// raft.LogStore and raft.StableStore. The id is 1..255 bytes of any value,
// else ErrInvalidGroupID. Calling Group twice for the same id returns the
// same *GroupStore. The first call for an id reads the first and last log
// index with one bounded iterator; it returns an error wrapping
// ErrCorruptEntry if a key in the group's log range is malformed.
func (s *Store) Group(id string) (*GroupStore, error) {
	if err := checkGroupID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.mu.groups[id]; g != nil {
		return g, nil
	}
	g := newGroupStore(s, id)
	first, last, err := g.bounds(g.logPrefix, g.logEnd)
	if err != nil {
		return nil, err
	}
	g.first.Store(first)
	g.last.Store(last)
	s.mu.groups[id] = g
	return g, nil
}

// DeleteGroup removes every key of the group id, log and stable state,
// with one synced range deletion. A GroupStore already handed out for id
// stays valid and now holds an empty log; Group returns it again. Nothing
// may use the group meanwhile: shut down its raft instance first.
func (s *Store) DeleteGroup(id string) error {
	if err := checkGroupID(id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.mu.groups[id]
	if g != nil {
		g.wmu.Lock()
		defer g.wmu.Unlock()
	}
	start := groupPrefix(id)
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(start, prefixSuccessor(start), nil); err != nil {
		return fmt.Errorf("replication: group %q: delete group: %w", id, err)
	}
	if err := s.commit(b); err != nil {
		return fmt.Errorf("replication: group %q: delete group: %w", id, err)
	}
	if g != nil {
		g.first.Store(0)
		g.last.Store(0)
	}
	return nil
}

func checkGroupID(id string) error {
	if len(id) == 0 || len(id) > maxStoreGroupIDLen {
		return fmt.Errorf("%w: %d bytes, want 1..%d", ErrInvalidGroupID, len(id), maxStoreGroupIDLen)
	}
	return nil
}

// groupPrefix returns keyPrefixRaft | len(id) | id, the prefix of every
// key of the group. id must pass checkGroupID.
func groupPrefix(id string) []byte {
	p := make([]byte, 0, 2+len(id)+1+8)
	p = append(p, keyPrefixRaft, byte(len(id)))
	return append(p, id...)
}

// prefixSuccessor returns the smallest key greater than every key that
// starts with p, or nil if there is none (p is all 0xff). It does not
// modify p.
func prefixSuccessor(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			s := append([]byte(nil), p[:i+1]...)
			s[i]++
			return s
		}
	}
	return nil
}

// GroupStore is the raft log and stable state of one raft group in the
// node's Store. It implements raft.LogStore and raft.StableStore; get one
// from Store.Group. It is safe for concurrent use: raft calls StoreLogs
// from its main loop and DeleteRange from its snapshot goroutine, and reads
// from its replication goroutines.
//
// FirstIndex and LastIndex are served from memory. They are the lowest and
// highest index stored (both 0 for an empty log); the log may have gaps
// after a snapshot install, as raft allows for a LogStore that does not
// implement raft.MonotonicLogStore.
type GroupStore struct {
	s  *Store
	id string

	// Key prefixes and bounds. Invariant: never modified after
	// newGroupStore.
	logPrefix    []byte // groupPrefix | kindLog
	logEnd       []byte // groupPrefix | kindLog+1: upper bound of the log range
	stablePrefix []byte // groupPrefix | kindStable

	// wmu serializes the writes that move the log's bounds (StoreLogs,
	// DeleteRange, Store.DeleteGroup), so that first and last change in
	// commit order. Lock order: Store.mu, then wmu.
	wmu sync.Mutex
	// first and last are the lowest and highest stored index, 0 and 0 for
	// an empty log. Written with wmu held, after the write they reflect is
	// committed (a reader never sees an index that is not durable); read
	// without a lock.
	first, last atomic.Uint64
}

var (
	_ raft.LogStore    = (*GroupStore)(nil)
	_ raft.StableStore = (*GroupStore)(nil)
)

func newGroupStore(s *Store, id string) *GroupStore {
	p := groupPrefix(id)
	return &GroupStore{
		s:            s,
		id:           id,
		logPrefix:    append(p[:len(p):len(p)], kindLog),
		logEnd:       append(p[:len(p):len(p)], kindLog+1),
		stablePrefix: append(p[:len(p):len(p)], kindStable),
	}
}

// ID returns the group id.
func (g *GroupStore) ID() string { return g.id }

// logKey returns the key of the log entry at index.
func (g *GroupStore) logKey(index uint64) []byte {
	k := make([]byte, len(g.logPrefix)+8)
	g.putLogKey(k, index)
	return k
}

// putLogKey writes the key of the log entry at index into k, which is
// exactly len(logPrefix)+8 bytes long.
func (g *GroupStore) putLogKey(k []byte, index uint64) {
	n := copy(k, g.logPrefix)
	binary.BigEndian.PutUint64(k[n:], index)
}

// stableKey returns the key of the stable value key.
func (g *GroupStore) stableKey(key []byte) []byte {
	k := make([]byte, 0, len(g.stablePrefix)+len(key))
	return append(append(k, g.stablePrefix...), key...)
}

// bounds returns the first and last index of the log entries whose keys
// lie in [lower, upper), or 0, 0 if there are none, with one bounded
// iterator. The bounds must lie within the group's log range. A malformed
// key returns an error wrapping ErrCorruptEntry.
func (g *GroupStore) bounds(lower, upper []byte) (first, last uint64, err error) {
	it, err := g.s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, 0, fmt.Errorf("replication: group %q: log bounds: %w", g.id, err)
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			first, last, err = 0, 0, fmt.Errorf("replication: group %q: log bounds: %w", g.id, cerr)
		}
	}()
	index := func() (uint64, error) {
		k := it.Key()
		if len(k) != len(g.logPrefix)+8 {
			return 0, fmt.Errorf("%w: group %q: %d-byte key %x in the log range", ErrCorruptEntry, g.id, len(k), k)
		}
		i := binary.BigEndian.Uint64(k[len(g.logPrefix):])
		if i == 0 {
			return 0, fmt.Errorf("%w: group %q: log entry at index 0", ErrCorruptEntry, g.id)
		}
		return i, nil
	}
	if !it.First() {
		if err := it.Error(); err != nil {
			return 0, 0, fmt.Errorf("replication: group %q: log bounds: %w", g.id, err)
		}
		return 0, 0, nil
	}
	if first, err = index(); err != nil {
		return 0, 0, err
	}
	if !it.Last() {
		// First found a key, so only an error leaves Last unpositioned.
		return 0, 0, fmt.Errorf("replication: group %q: log bounds: %w", g.id, it.Error())
	}
	if last, err = index(); err != nil {
		return 0, 0, err
	}
	return first, last, nil
}

// FirstIndex returns the lowest index in the log, or 0 if it is empty. It
// never fails and does no I/O.
func (g *GroupStore) FirstIndex() (uint64, error) { return g.first.Load(), nil }

// LastIndex returns the highest index in the log, or 0 if it is empty. It
// never fails and does no I/O.
func (g *GroupStore) LastIndex() (uint64, error) { return g.last.Load(), nil }

// GetLog reads the entry at index into *l. A missing index returns
// raft.ErrLogNotFound itself (raft compares with ==). An entry that does
// not decode, or that holds another index, returns an error wrapping
// ErrCorruptEntry naming the group and index; it is never skipped. On
// success l.Data and l.Extensions are fresh slices the caller owns; on
// error *l is unchanged.
func (g *GroupStore) GetLog(index uint64, l *raft.Log) error {
	v, closer, err := g.s.db.Get(g.logKey(index))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("replication: group %q: get log index %d: %w", g.id, index, err)
	}
	var e raft.Log
	err = decodeEntry(v, &e)
	if cerr := closer.Close(); cerr != nil && err == nil {
		return fmt.Errorf("replication: group %q: get log index %d: %w", g.id, index, cerr)
	}
	if err != nil {
		return fmt.Errorf("replication: group %q: log index %d: %w", g.id, index, err)
	}
	if e.Index != index {
		return fmt.Errorf("%w: group %q: entry at log index %d holds index %d", ErrCorruptEntry, g.id, index, e.Index)
	}
	*l = e
	return nil
}

// StoreLog stores one entry; see StoreLogs.
func (g *GroupStore) StoreLog(l *raft.Log) error {
	return g.StoreLogs([]*raft.Log{l})
}

// StoreLogs stores the entries in one synced Pebble batch: all of them are
// durable when it returns nil, and none are acknowledged otherwise. An
// entry at an index already stored replaces it. Indexes need not be
// contiguous. The entries are copied; the caller keeps them.
//
// An entry with index 0 or an unknown type returns ErrInvalidEntry and
// nothing is written. A Pebble error fails the store (ErrStoreFailed).
func (g *GroupStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	lo, hi := uint64(math.MaxUint64), uint64(0)
	size := 0
	for _, l := range logs {
		if err := validEntry(l); err != nil {
			return fmt.Errorf("replication: group %q: %w", g.id, err)
		}
		lo, hi = min(lo, l.Index), max(hi, l.Index)
		// Per entry a batch holds a kind byte, two uvarint lengths, the key
		// and the value.
		size += 1 + 2*binary.MaxVarintLen32 + len(g.logPrefix) + 8 + encodedEntryLen(l)
	}
	b := g.s.db.NewBatchWithSize(size)
	defer b.Close()
	for _, l := range logs {
		op := b.SetDeferred(len(g.logPrefix)+8, encodedEntryLen(l))
		g.putLogKey(op.Key, l.Index)
		putEntry(op.Value, l)
		if err := op.Finish(); err != nil {
			return fmt.Errorf("replication: group %q: store logs %d..%d: %w", g.id, lo, hi, err)
		}
	}

	g.wmu.Lock()
	defer g.wmu.Unlock()
	if err := g.s.commit(b); err != nil {
		return fmt.Errorf("replication: group %q: store logs %d..%d: %w", g.id, lo, hi, err)
	}
	if f := g.first.Load(); f == 0 || lo < f {
		g.first.Store(lo)
	}
	if hi > g.last.Load() {
		g.last.Store(hi)
	}
	return nil
}

// DeleteRange deletes the entries with index in [lo, hi], inclusive, with
// one synced range deletion; lo > hi deletes nothing. When the deletion
// takes the first (or last) entry, the new bound is found with one bounded
// iterator, so FirstIndex and LastIndex stay exact across gaps. A Pebble
// error fails the store (ErrStoreFailed).
func (g *GroupStore) DeleteRange(lo, hi uint64) error {
	if lo > hi {
		return nil
	}
	start, end := g.logKey(lo), g.logEnd
	if hi < math.MaxUint64 {
		end = g.logKey(hi + 1)
	}

	b := g.s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(start, end, nil); err != nil {
		return fmt.Errorf("replication: group %q: delete logs %d..%d: %w", g.id, lo, hi, err)
	}

	g.wmu.Lock()
	defer g.wmu.Unlock()
	if err := g.s.commit(b); err != nil {
		return fmt.Errorf("replication: group %q: delete logs %d..%d: %w", g.id, lo, hi, err)
	}
	first, last := g.first.Load(), g.last.Load()
	switch {
	case first == 0 || hi < first || lo > last:
		// Nothing stored was in the range.
	case lo <= first && hi >= last:
		g.first.Store(0)
		g.last.Store(0)
	case lo <= first:
		f, _, err := g.bounds(end, g.logEnd)
		if err != nil {
			// The deletion is durable but the bound is unknown: stop
			// rather than serve a wrong FirstIndex.
			g.s.fail(err)
			return err
		}
		g.first.Store(f)
	case hi >= last:
		_, l, err := g.bounds(g.logPrefix, start)
		if err != nil {
			g.s.fail(err)
			return err
		}
		g.last.Store(l)
	default:
		// A hole in the middle: the bounds stay.
	}
	return nil
}

// Set stores val under key, synced. The bytes are copied.
func (g *GroupStore) Set(key, val []byte) error {
	b := g.s.db.NewBatch()
	defer b.Close()
	if err := b.Set(g.stableKey(key), val, nil); err != nil {
		return fmt.Errorf("replication: group %q: set %q: %w", g.id, key, err)
	}
	if err := g.s.commit(b); err != nil {
		return fmt.Errorf("replication: group %q: set %q: %w", g.id, key, err)
	}
	return nil
}

// Get returns a copy of the value of key. A missing key returns a nil
// (empty) slice and no error, as raft expects; a key stored with an empty
// value returns a non-nil empty slice.
func (g *GroupStore) Get(key []byte) ([]byte, error) {
	v, closer, err := g.s.db.Get(g.stableKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replication: group %q: get %q: %w", g.id, key, err)
	}
	out := append([]byte{}, v...)
	if err := closer.Close(); err != nil {
		return nil, fmt.Errorf("replication: group %q: get %q: %w", g.id, key, err)
	}
	return out, nil
}

// SetUint64 stores val under key as 8 bytes big-endian, synced.
func (g *GroupStore) SetUint64(key []byte, val uint64) error {
	return g.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns the value stored by SetUint64 under key, or 0 if the
// key is missing. A value that is not 8 bytes returns an error wrapping
// ErrCorruptEntry.
func (g *GroupStore) GetUint64(key []byte) (uint64, error) {
	v, err := g.Get(key)
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: group %q: stable key %q holds %d bytes, want 8", ErrCorruptEntry, g.id, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
