package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
)

// storeLogger is a pebble.Logger for tests. It drops info and errors and
// records Fatalf calls instead of exiting, so a test can observe them.
type storeLogger struct {
	mu     sync.Mutex
	fatals []string
}

func (*storeLogger) Infof(string, ...any)  {}
func (*storeLogger) Errorf(string, ...any) {}
func (l *storeLogger) Fatalf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fatals = append(l.fatals, fmt.Sprintf(format, args...))
}

func (l *storeLogger) fatalCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fatals)
}

// openStoreDB opens a Pebble DB in "db" on fs. The caller closes it.
func openStoreDB(t testing.TB, fs vfs.FS, logger pebble.Logger) *pebble.DB {
	t.Helper()
	if logger == nil {
		logger = &storeLogger{}
	}
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: logger})
	if err != nil {
		t.Fatalf("pebble.Open: %v", err)
	}
	return db
}

func mustGroup(t testing.TB, s *Store, id string) *GroupStore {
	t.Helper()
	g, err := s.Group(id)
	if err != nil {
		t.Fatalf("Group(%q): %v", id, err)
	}
	return g
}

// entry returns a distinct entry for group id at index.
func entry(id string, index, term uint64) *raft.Log {
	return &raft.Log{
		Index:      index,
		Term:       term,
		Type:       raft.LogType(index % uint64(maxLogType+1)),
		Data:       fmt.Appendf(nil, "%s/%d/%d", id, index, term),
		AppendedAt: time.Unix(1_700_000_000, int64(index)),
	}
}

// storeModel is what a Store must hold: per group, the log entries by
// index and the stable values by key.
type storeModel struct {
	logs   map[string]map[uint64]*raft.Log
	stable map[string]map[string][]byte
}

func newStoreModel() *storeModel {
	return &storeModel{logs: map[string]map[uint64]*raft.Log{}, stable: map[string]map[string][]byte{}}
}

func (m *storeModel) group(id string) map[uint64]*raft.Log {
	if m.logs[id] == nil {
		m.logs[id] = map[uint64]*raft.Log{}
		m.stable[id] = map[string][]byte{}
	}
	return m.logs[id]
}

func (m *storeModel) storeLogs(t testing.TB, g *GroupStore, logs ...*raft.Log) {
	t.Helper()
	if err := g.StoreLogs(logs); err != nil {
		t.Fatalf("group %q: StoreLogs: %v", g.ID(), err)
	}
	for _, l := range logs {
		m.group(g.ID())[l.Index] = l
	}
}

func (m *storeModel) deleteRange(t testing.TB, g *GroupStore, lo, hi uint64) {
	t.Helper()
	if err := g.DeleteRange(lo, hi); err != nil {
		t.Fatalf("group %q: DeleteRange(%d, %d): %v", g.ID(), lo, hi, err)
	}
	for i := range m.group(g.ID()) {
		if i >= lo && i <= hi {
			delete(m.logs[g.ID()], i)
		}
	}
}

func (m *storeModel) set(t testing.TB, g *GroupStore, key string, val []byte) {
	t.Helper()
	if err := g.Set([]byte(key), val); err != nil {
		t.Fatalf("group %q: Set(%q): %v", g.ID(), key, err)
	}
	m.group(g.ID())
	m.stable[g.ID()][key] = val
}

// check compares every group of the model with s: the bounds, every entry,
// the neighbours of every entry (absent unless in the model) and every
// stable value.
func (m *storeModel) check(t testing.TB, s *Store) {
	t.Helper()
	for id, logs := range m.logs {
		g := mustGroup(t, s, id)
		var wantFirst, wantLast uint64
		for i := range logs {
			if wantFirst == 0 || i < wantFirst {
				wantFirst = i
			}
			wantLast = max(wantLast, i)
		}
		first, _ := g.FirstIndex()
		last, _ := g.LastIndex()
		if first != wantFirst || last != wantLast {
			t.Fatalf("group %q: first, last = %d, %d; want %d, %d", id, first, last, wantFirst, wantLast)
		}
		probe := map[uint64]bool{0: true, 1: true, wantLast + 1: true, math.MaxUint64: true}
		for i := range logs {
			probe[i-1], probe[i+1] = true, true
		}
		for i := range probe {
			if _, ok := logs[i]; !ok {
				if err := g.GetLog(i, new(raft.Log)); err != raft.ErrLogNotFound { // raft compares with ==
					t.Fatalf("group %q: GetLog(%d) = %v, want raft.ErrLogNotFound", id, i, err)
				}
			}
		}
	}
	m.checkEntries(t, s)
}

// checkEntries checks that every entry and stable value of the model reads
// back from s.
func (m *storeModel) checkEntries(t testing.TB, s *Store) {
	t.Helper()
	for id, logs := range m.logs {
		g := mustGroup(t, s, id)
		for i, want := range logs {
			var got raft.Log
			if err := g.GetLog(i, &got); err != nil {
				t.Fatalf("group %q: GetLog(%d): %v", id, i, err)
			}
			if !sameEntry(&got, want) {
				t.Fatalf("group %q: GetLog(%d) = %+v, want %+v", id, i, got, *want)
			}
		}
		for k, want := range m.stable[id] {
			got, err := g.Get([]byte(k))
			if err != nil || !bytes.Equal(got, want) || got == nil {
				t.Fatalf("group %q: Get(%q) = %q, %v; want %q", id, k, got, err, want)
			}
		}
	}
}

// reopen closes db and opens the DB on fs again, with a new Store.
func reopen(t testing.TB, fs vfs.FS, db *pebble.DB) (*pebble.DB, *Store) {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db = openStoreDB(t, fs, nil)
	return db, NewStore(db)
}

func TestGroupID(t *testing.T) {
	fs := vfs.NewMem()
	db := openStoreDB(t, fs, nil)
	defer db.Close()
	s := NewStore(db)
	tests := []struct {
		id    string
		valid bool
	}{
		{"", false},
		{strings.Repeat("x", 256), false},
		{strings.Repeat("x", 1000), false},
		{"a", true},
		{"\x00", true},
		{"\xff\xff", true},
		{strings.Repeat("x", 255), true},
	}
	for _, tt := range tests {
		g, err := s.Group(tt.id)
		derr := s.DeleteGroup(tt.id)
		if !tt.valid {
			if !errors.Is(err, ErrInvalidGroupID) || g != nil || !errors.Is(derr, ErrInvalidGroupID) {
				t.Errorf("%d-byte id: Group = %v, %v; DeleteGroup = %v; want ErrInvalidGroupID", len(tt.id), g, err, derr)
			}
			continue
		}
		if err != nil || derr != nil {
			t.Fatalf("%d-byte id: Group: %v, DeleteGroup: %v", len(tt.id), err, derr)
		}
		if again := mustGroup(t, s, tt.id); again != g {
			t.Errorf("%d-byte id: Group returned a second GroupStore", len(tt.id))
		}
		if first, _ := g.FirstIndex(); first != 0 {
			t.Errorf("%d-byte id: new group has first index %d", len(tt.id), first)
		}
	}
}

// TestLogStoreGroups writes interleaved batches to groups whose ids are
// prefixes of each other and checks that each sees only its own log, before
// and after reopening the DB.
func TestLogStoreGroups(t *testing.T) {
	ids := []string{"a", "ab", "1", "10", "b", "\x00", "\xff", "\xff\xff", strings.Repeat("z", 255)}
	fs := vfs.NewMem()
	db := openStoreDB(t, fs, nil)
	defer func() { _ = db.Close() }()
	s := NewStore(db)
	m := newStoreModel()
	for round := 0; round < 6; round++ {
		for gi, id := range ids {
			g := mustGroup(t, s, id)
			base := uint64(100*gi + 1) // each group starts elsewhere
			// Batches of 1, 2, 3, ... entries, contiguous per group.
			last, _ := g.LastIndex()
			next := max(last+1, base)
			var batch []*raft.Log
			for k := 0; k <= (round+gi)%4; k++ {
				batch = append(batch, entry(id, next+uint64(k), uint64(round+1)))
			}
			if len(batch) == 1 {
				if err := g.StoreLog(batch[0]); err != nil {
					t.Fatal(err)
				}
				m.group(id)[batch[0].Index] = batch[0]
			} else {
				m.storeLogs(t, g, batch...)
			}
		}
	}
	// Overwrite an entry with a later term, as a follower would after
	// DeleteRange of a conflicting suffix.
	g := mustGroup(t, s, "ab")
	m.storeLogs(t, g, entry("ab", 103, 9))
	// A group that was never written.
	m.group("empty")
	m.check(t, s)

	db, s = reopen(t, fs, db)
	m.check(t, s)
}

func TestDeleteRange(t *testing.T) {
	contiguous := func(lo, hi uint64) []uint64 {
		var ix []uint64
		for i := lo; i <= hi; i++ {
			ix = append(ix, i)
		}
		return ix
	}
	gap := append(contiguous(5, 14), contiguous(105, 114)...)
	tests := []struct {
		name    string
		initial []uint64
		lo, hi  uint64
	}{
		{"prefix", contiguous(5, 24), 5, 9},
		{"prefix from below", contiguous(5, 24), 1, 9},
		{"first entry", contiguous(5, 24), 5, 5},
		{"suffix", contiguous(5, 24), 20, 24},
		{"suffix to max", contiguous(5, 24), 20, math.MaxUint64},
		{"last entry", contiguous(5, 24), 24, 24},
		{"middle", contiguous(5, 24), 10, 14},
		{"all", contiguous(5, 24), 5, 24},
		{"everything", contiguous(5, 24), 0, math.MaxUint64},
		{"below the log", contiguous(5, 24), 1, 4},
		{"above the log", contiguous(5, 24), 25, 40},
		{"lo > hi", contiguous(5, 24), 10, 9},
		{"empty log", nil, 1, 10},
		{"prefix across a gap", gap, 1, 50},
		{"prefix into the second run", gap, 1, 107},
		{"suffix across a gap", gap, 100, 200},
		{"the gap itself", gap, 15, 104},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := vfs.NewMem()
			db := openStoreDB(t, fs, nil)
			defer func() { _ = db.Close() }()
			s := NewStore(db)
			m := newStoreModel()
			// "x" is the group under test; "x1" and "w" are neighbours in
			// key order that must not change.
			for _, id := range []string{"x", "x1", "w"} {
				g := mustGroup(t, s, id)
				var batch []*raft.Log
				for _, i := range tt.initial {
					batch = append(batch, entry(id, i, 1))
				}
				if len(batch) > 0 {
					m.storeLogs(t, g, batch...)
				}
				m.set(t, g, "CurrentTerm", []byte(id))
			}
			m.check(t, s)
			m.deleteRange(t, mustGroup(t, s, "x"), tt.lo, tt.hi)
			m.check(t, s)

			// The cached bounds agree with what a fresh Store reads.
			db, s = reopen(t, fs, db)
			m.check(t, s)

			// And the log goes on: append after the last entry.
			g := mustGroup(t, s, "x")
			last, _ := g.LastIndex()
			m.storeLogs(t, g, entry("x", last+1, 2), entry("x", last+2, 2))
			m.check(t, s)
		})
	}
}

func TestDeleteGroup(t *testing.T) {
	fs := vfs.NewMem()
	db := openStoreDB(t, fs, nil)
	defer func() { _ = db.Close() }()
	s := NewStore(db)
	m := newStoreModel()
	ids := []string{"a", "ab", "a\x00", "b", "\x00"}
	for _, id := range ids {
		g := mustGroup(t, s, id)
		m.storeLogs(t, g, entry(id, 1, 1), entry(id, 2, 1), entry(id, 3, 2))
		m.set(t, g, "CurrentTerm", binary.BigEndian.AppendUint64(nil, 2))
		m.set(t, g, "LastVoteCand", []byte(id))
	}
	a := mustGroup(t, s, "a")
	if err := s.DeleteGroup("a"); err != nil {
		t.Fatal(err)
	}
	delete(m.logs, "a")
	delete(m.stable, "a")
	m.group("a")
	m.check(t, s)
	if v, err := a.Get([]byte("LastVoteCand")); err != nil || v != nil {
		t.Fatalf("stable value after DeleteGroup: %q, %v", v, err)
	}
	if mustGroup(t, s, "a") != a {
		t.Fatal("Group after DeleteGroup returned a new GroupStore")
	}
	// The group is usable again, from any index.
	m.storeLogs(t, a, entry("a", 50, 3))
	m.check(t, s)

	// DeleteGroup of a group this Store never opened.
	db, s = reopen(t, fs, db)
	if err := s.DeleteGroup("ab"); err != nil {
		t.Fatal(err)
	}
	delete(m.logs, "ab")
	delete(m.stable, "ab")
	m.group("ab")
	m.check(t, s)
	db, s = reopen(t, fs, db)
	m.check(t, s)
}

func TestStableStore(t *testing.T) {
	fs := vfs.NewMem()
	db := openStoreDB(t, fs, nil)
	defer func() { _ = db.Close() }()
	s := NewStore(db)
	a, ab := mustGroup(t, s, "a"), mustGroup(t, s, "ab")

	// Missing keys: an empty slice and 0, no error (raft relies on it).
	for _, key := range []string{"CurrentTerm", "LastVoteTerm", "LastVoteCand", ""} {
		v, err := a.Get([]byte(key))
		if err != nil || len(v) != 0 {
			t.Fatalf("Get(%q) of a missing key = %q, %v", key, v, err)
		}
		n, err := a.GetUint64([]byte(key))
		if err != nil || n != 0 {
			t.Fatalf("GetUint64(%q) of a missing key = %d, %v", key, n, err)
		}
	}

	bytesTests := []struct {
		key string
		val []byte
	}{
		{"LastVoteCand", []byte("node-1")},
		{"LastVoteCand", []byte("node-2")}, // overwrite
		{"", []byte("empty key")},
		{"empty", []byte{}},
		{"nil", nil},
		{"binary", []byte{0, 0xff, 0}},
		// A key that looks like a log index must not appear in the log.
		{string(binary.BigEndian.AppendUint64(nil, 1)), []byte("not a log entry")},
	}
	for _, tt := range bytesTests {
		if err := a.Set([]byte(tt.key), tt.val); err != nil {
			t.Fatal(err)
		}
		got, err := a.Get([]byte(tt.key))
		if err != nil || !bytes.Equal(got, tt.val) || got == nil {
			t.Fatalf("Get(%q) = %#v, %v; want %q (non-nil)", tt.key, got, err, tt.val)
		}
	}
	if first, _ := a.FirstIndex(); first != 0 {
		t.Fatalf("stable values leaked into the log: first index %d", first)
	}

	uintTests := []uint64{0, 1, 1 << 32, math.MaxUint64}
	for _, v := range uintTests {
		if err := a.SetUint64([]byte("CurrentTerm"), v); err != nil {
			t.Fatal(err)
		}
		if got, err := a.GetUint64([]byte("CurrentTerm")); err != nil || got != v {
			t.Fatalf("GetUint64 = %d, %v; want %d", got, err, v)
		}
	}

	// Same key, neighbouring groups.
	if err := ab.SetUint64([]byte("CurrentTerm"), 77); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.GetUint64([]byte("CurrentTerm")); got != math.MaxUint64 {
		t.Fatalf("group a sees %d after a write to group ab", got)
	}

	// Returned and given slices are not shared with the store.
	val := []byte("mine")
	if err := a.Set([]byte("k"), val); err != nil {
		t.Fatal(err)
	}
	val[0] = 'X'
	got, _ := a.Get([]byte("k"))
	got[1] = 'X'
	if again, _ := a.Get([]byte("k")); string(again) != "mine" {
		t.Fatalf("stored value changed to %q through a caller's slice", again)
	}

	// A value GetUint64 cannot read is a typed error, not a panic.
	for _, bad := range [][]byte{{}, {1, 2, 3}, make([]byte, 9)} {
		if err := a.Set([]byte("bad"), bad); err != nil {
			t.Fatal(err)
		}
		if _, err := a.GetUint64([]byte("bad")); !errors.Is(err, ErrCorruptEntry) {
			t.Fatalf("GetUint64 of %d bytes = %v, want ErrCorruptEntry", len(bad), err)
		}
	}

	db, s = reopen(t, fs, db)
	a = mustGroup(t, s, "a")
	if got, err := a.GetUint64([]byte("CurrentTerm")); err != nil || got != math.MaxUint64 {
		t.Fatalf("after reopen GetUint64 = %d, %v", got, err)
	}
	if got, err := a.Get([]byte("LastVoteCand")); err != nil || string(got) != "node-2" {
		t.Fatalf("after reopen Get = %q, %v", got, err)
	}
}

// TestGetLogNoAlias: StoreLog copies the entry and GetLog returns slices
// the caller owns.
func TestGetLogNoAlias(t *testing.T) {
	db := openStoreDB(t, vfs.NewMem(), nil)
	defer db.Close()
	g := mustGroup(t, NewStore(db), "g")
	in := &raft.Log{Index: 1, Term: 1, Data: []byte("data"), Extensions: []byte("ext")}
	if err := g.StoreLog(in); err != nil {
		t.Fatal(err)
	}
	in.Data[0], in.Extensions[0] = 'X', 'X'
	var out raft.Log
	if err := g.GetLog(1, &out); err != nil {
		t.Fatal(err)
	}
	if string(out.Data) != "data" || string(out.Extensions) != "ext" {
		t.Fatalf("stored entry changed with the caller's slices: %q %q", out.Data, out.Extensions)
	}
	out.Data[0], out.Extensions[0] = 'Y', 'Y'
	if err := g.GetLog(1, &out); err != nil || string(out.Data) != "data" || string(out.Extensions) != "ext" {
		t.Fatalf("GetLog after writing to a returned slice: %q %q, %v", out.Data, out.Extensions, err)
	}
}

func TestStoreLogsInvalid(t *testing.T) {
	db := openStoreDB(t, vfs.NewMem(), nil)
	defer db.Close()
	s := NewStore(db)
	g := mustGroup(t, s, "g")
	tests := []struct {
		name string
		bad  *raft.Log
	}{
		{"index 0", &raft.Log{Index: 0, Term: 1}},
		{"unknown type", &raft.Log{Index: 3, Term: 1, Type: maxLogType + 1}},
	}
	for _, tt := range tests {
		err := g.StoreLogs([]*raft.Log{entry("g", 1, 1), tt.bad, entry("g", 2, 1)})
		if !errors.Is(err, ErrInvalidEntry) {
			t.Fatalf("%s: StoreLogs = %v, want ErrInvalidEntry", tt.name, err)
		}
		if err := g.GetLog(1, new(raft.Log)); err != raft.ErrLogNotFound {
			t.Fatalf("%s: an entry of the refused batch was written (GetLog = %v)", tt.name, err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("a refused entry failed the store: %v", err)
	}
	if err := g.StoreLogs(nil); err != nil {
		t.Fatalf("StoreLogs(nil) = %v", err)
	}
}

// TestCorruptOnDisk writes bad bytes under a group's keys behind the
// Store's back: GetLog and Group must return ErrCorruptEntry, never
// raft.ErrLogNotFound, a panic or a skipped entry.
func TestCorruptOnDisk(t *testing.T) {
	fs := vfs.NewMem()
	db := openStoreDB(t, fs, nil)
	defer func() { _ = db.Close() }()
	s := NewStore(db)
	g := mustGroup(t, s, "g")
	valid := encodeEntry(nil, entry("g", 5, 1))
	tests := []struct {
		name  string
		value []byte
	}{
		{"garbage", []byte("x")},
		{"empty", []byte{}},
		{"unknown version", append([]byte{9}, valid[1:]...)},
		{"trailing bytes", append(append([]byte(nil), valid...), 1, 2)},
		{"another index", encodeEntry(nil, entry("g", 6, 1))},
	}
	for _, tt := range tests {
		if err := db.Set(g.logKey(5), tt.value, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		before := raft.Log{Index: 42}
		got := before
		err := g.GetLog(5, &got)
		if !errors.Is(err, ErrCorruptEntry) || err == raft.ErrLogNotFound {
			t.Fatalf("%s: GetLog = %v, want ErrCorruptEntry", tt.name, err)
		}
		if !sameEntry(&got, &before) {
			t.Fatalf("%s: GetLog changed the entry on error", tt.name)
		}
	}

	// Malformed keys in the log range are found when a Store first opens
	// the group.
	badKeys := map[string][]byte{
		"short key": append(append([]byte(nil), g.logPrefix...), 1, 2, 3),
		"long key":  append(g.logKey(7), 0),
		"index 0":   g.logKey(0),
	}
	for name, key := range badKeys {
		if err := db.Set(key, valid, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if _, err := NewStore(db).Group("g"); !errors.Is(err, ErrCorruptEntry) {
			t.Fatalf("%s: Group = %v, want ErrCorruptEntry", name, err)
		}
		if err := db.Delete(key, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
}
