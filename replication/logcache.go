package replication

import (
	"sync"

	"github.com/hashicorp/raft"
)

// Bounds of a group's cache of recent raft log entries (see logCache).
const (
	logCacheEntries = 256     // one full AppendEntries at the default MaxAppendEntries
	logCacheBytes   = 4 << 20 // entry data kept per group, at most
)

// logCache keeps the newest entries of a group's raft log in memory, in
// front of its LogStore. Raft reads back almost every entry soon after
// storing it: a leader to send it to each follower (and the one before it,
// for its term), a follower to apply it once the commit index passes it.
// Served from Pebble, each read is a lookup and a full copy of the entry.
//
// It holds the *raft.Log values raft stored, not copies: raft never
// changes an entry after storing it, and state machines must not change
// Entry.Data either. It is bounded by logCacheEntries entries and by
// logCacheBytes of entry data, whichever binds first; the oldest entries go
// first. A miss reads the store.
//
// Unlike raft.LogCache it keeps the store's errors intact (errors.Is
// ErrStoreFailed still works through it) and bounds its memory by bytes,
// since one entry may hold a batch of several MiB.
type logCache struct {
	raft.LogStore

	mu struct {
		sync.RWMutex
		ring  []*raft.Log // the entry of index i is at ring[i%len(ring)] if cached
		bytes int         // data and extension bytes of the cached entries
		lo    uint64      // no entry below lo is cached
		hi    uint64      // no entry above hi is cached
	}
}

var _ raft.LogStore = (*logCache)(nil)

func newLogCache(s raft.LogStore) *logCache {
	c := &logCache{LogStore: s}
	c.mu.ring = make([]*raft.Log, logCacheEntries)
	return c
}

func entryBytes(l *raft.Log) int { return len(l.Data) + len(l.Extensions) }

// GetLog implements raft.LogStore.
func (c *logCache) GetLog(index uint64, l *raft.Log) error {
	c.mu.RLock()
	e := c.mu.ring[index%uint64(len(c.mu.ring))]
	c.mu.RUnlock()
	if e != nil && e.Index == index {
		*l = *e
		return nil
	}
	return c.LogStore.GetLog(index, l)
}

// StoreLog implements raft.LogStore.
func (c *logCache) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore: it caches the entries once the store
// has them.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := uint64(len(c.mu.ring))
	for _, l := range logs {
		if c.mu.hi == 0 || l.Index < c.mu.lo {
			c.mu.lo = l.Index
		}
		c.mu.hi = max(c.mu.hi, l.Index)
		slot := &c.mu.ring[l.Index%n]
		if *slot != nil {
			c.mu.bytes -= entryBytes(*slot)
		}
		*slot = l
		c.mu.bytes += entryBytes(l)
	}
	// Drop the oldest entries past the byte bound. Entries more than a ring
	// below the newest cannot be cached.
	if c.mu.hi >= n {
		c.mu.lo = max(c.mu.lo, c.mu.hi-n+1)
	}
	for c.mu.bytes > logCacheBytes && c.mu.lo <= c.mu.hi {
		slot := &c.mu.ring[c.mu.lo%n]
		if *slot != nil && (*slot).Index == c.mu.lo {
			c.mu.bytes -= entryBytes(*slot)
			*slot = nil
		}
		c.mu.lo++
	}
	return nil
}

// DeleteRange implements raft.LogStore. It empties the cache: raft deletes
// ranges to compact the log after a snapshot and to cut a follower's
// conflicting suffix, both rare.
func (c *logCache) DeleteRange(lo, hi uint64) error {
	c.mu.Lock()
	clear(c.mu.ring)
	c.mu.bytes, c.mu.lo, c.mu.hi = 0, 0, 0
	c.mu.Unlock()
	return c.LogStore.DeleteRange(lo, hi)
}
