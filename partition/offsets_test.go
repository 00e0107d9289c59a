package partition

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/replication"
)

// commitOffsets commits groups group-0 … group-<n-1> (incarnation 1,
// generation i) at offsets just below the high watermark.
func commitOffsets(t testing.TB, r *Replica, n int) {
	t.Helper()
	for i := range n {
		c := OffsetCommit{Group: fmt.Sprint("group-", i), Incarnation: 1, Generation: int32(i),
			Offset: max(0, r.HighWatermark()-int64(i)), Metadata: fmt.Sprint("m", i)}
		if _, err := r.CommitOffset(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// referenceOffsetTable encodes entries (sorted by group) from the
// documented format (offsets.go), independently of the code under test.
func referenceOffsetTable(entries []CommittedOffset) []byte {
	be := binary.BigEndian
	b := be.AppendUint32(nil, uint32(len(entries)))
	for _, e := range entries {
		b = be.AppendUint16(b, uint16(len(e.Group)))
		b = append(b, e.Group...)
		b = be.AppendUint64(b, e.Incarnation)
		b = be.AppendUint32(b, uint32(e.Generation))
		b = be.AppendUint64(b, uint64(e.Offset))
		b = be.AppendUint64(b, uint64(e.CommitTime))
		b = be.AppendUint16(b, uint16(len(e.Metadata)))
		b = append(b, e.Metadata...)
	}
	return b
}

func commitCmd(ts int64, group string, inc uint64, gen int32, off int64, meta string) []byte {
	return appendCommitOffset(nil, ts, OffsetCommit{Group: group, Incarnation: inc, Generation: gen, Offset: off, Metadata: meta})
}

func deleteCmd(group string, inc uint64) []byte { return appendDeleteGroupOffsets(nil, group, inc) }

// offsetReplica returns a replica whose log holds offsets [5, 10).
func offsetReplica(t *testing.T) (*Replica, *direct) {
	t.Helper()
	r := newNode(t, vfs.NewMem()).open(t, "p0")
	t.Cleanup(func() { _ = r.Close() })
	d := &direct{r: r, term: 1}
	r.Attach(d)
	for range 2 {
		if _, err := r.Produce(context.Background(), plain(t, 5)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Propose(context.Background(), encodeAdvanceLogStart(5)); err != nil {
		t.Fatal(err)
	}
	if r.LogStartOffset() != 5 || r.HighWatermark() != 10 {
		t.Fatalf("log [%d, %d)", r.LogStartOffset(), r.HighWatermark())
	}
	return r, d
}

// TestApplyOffsetCommands runs commit and delete commands through Apply
// on a log holding [5, 10) and checks each answer and the final table.
func TestApplyOffsetCommands(t *testing.T) {
	type step struct {
		cmd     []byte
		wantErr error // nil: accepted
		// detail, if set, is the typed error the answer must carry:
		// *StaleGenerationError, *OffsetBeyondLogEndError (compared whole)
		// or *InvalidOffsetCommitError (compared by Field).
		detail error
	}
	entry := func(g string, inc uint64, gen int32, off int64, meta string, ts int64) CommittedOffset {
		return CommittedOffset{Group: g, Incarnation: inc, Generation: gen, Offset: off, Metadata: meta, CommitTime: ts}
	}
	invalid := func(field string) error { return &InvalidOffsetCommitError{Field: field} }
	cases := []struct {
		name  string
		steps []step
		want  []CommittedOffset
	}{
		{"first commit stored", []step{
			{cmd: commitCmd(100, "g", 1, 3, 7, "meta")},
		}, []CommittedOffset{entry("g", 1, 3, 7, "meta", 100)}},
		{"equal generation accepted", []step{
			{cmd: commitCmd(100, "g", 1, 3, 7, "a")},
			{cmd: commitCmd(200, "g", 1, 3, 6, "")},
		}, []CommittedOffset{entry("g", 1, 3, 6, "", 200)}},
		{"newer generation accepted", []step{
			{cmd: commitCmd(100, "g", 1, 3, 7, "")},
			{cmd: commitCmd(50, "g", 1, 4, 8, "")},
		}, []CommittedOffset{entry("g", 1, 4, 8, "", 50)}},
		{"older generation refused", []step{
			{cmd: commitCmd(100, "g", 1, 3, 7, "")},
			{cmd: commitCmd(200, "g", 1, 2, 9, ""), wantErr: ErrStaleGeneration, detail: &StaleGenerationError{
				Group: "g", GotIncarnation: 1, GotGeneration: 2, StoredIncarnation: 1, StoredGeneration: 3}},
		}, []CommittedOffset{entry("g", 1, 3, 7, "", 100)}},
		{"newer incarnation replaces a higher generation", []step{
			{cmd: commitCmd(100, "g", 1, 9, 7, "old")},
			{cmd: commitCmd(200, "g", 2, 0, 5, "")},
		}, []CommittedOffset{entry("g", 2, 0, 5, "", 200)}},
		{"older incarnation refused", []step{
			{cmd: commitCmd(100, "g", 2, 0, 5, "")},
			{cmd: commitCmd(200, "g", 1, 9, 8, ""), wantErr: ErrStaleGeneration, detail: &StaleGenerationError{
				Group: "g", GotIncarnation: 1, GotGeneration: 9, StoredIncarnation: 2, StoredGeneration: 0}},
		}, []CommittedOffset{entry("g", 2, 0, 5, "", 100)}},
		{"offset at the log end accepted", []step{
			{cmd: commitCmd(100, "g", 1, 0, 10, "")},
		}, []CommittedOffset{entry("g", 1, 0, 10, "", 100)}},
		{"offset beyond the log end refused", []step{
			{cmd: commitCmd(100, "g", 1, 0, 7, "")},
			{cmd: commitCmd(200, "g", 1, 0, 11, ""), wantErr: ErrOffsetBeyondLogEnd,
				detail: &OffsetBeyondLogEndError{Group: "g", Offset: 11, LogEnd: 10}},
		}, []CommittedOffset{entry("g", 1, 0, 7, "", 100)}},
		{"offset below the log start accepted", []step{
			{cmd: commitCmd(100, "g", 1, 0, 2, "")},
			{cmd: commitCmd(100, "h", 1, 0, 0, "")},
		}, []CommittedOffset{entry("g", 1, 0, 2, "", 100), entry("h", 1, 0, 0, "", 100)}},
		{"groups are independent", []step{
			{cmd: commitCmd(100, "b", 5, 5, 7, "")},
			{cmd: commitCmd(200, "a", 1, 0, 3, "")},
			{cmd: commitCmd(300, "b", 5, 5, 8, "")},
		}, []CommittedOffset{entry("a", 1, 0, 3, "", 200), entry("b", 5, 5, 8, "", 300)}},
		{"delete at the stored incarnation", []step{
			{cmd: commitCmd(100, "g", 2, 0, 5, "")},
			{cmd: deleteCmd("g", 2)},
		}, nil},
		{"delete at a newer incarnation", []step{
			{cmd: commitCmd(100, "g", 2, 0, 5, "")},
			{cmd: deleteCmd("g", 3)},
		}, nil},
		{"delete at an older incarnation keeps the entry", []step{
			{cmd: commitCmd(100, "g", 2, 0, 5, "")},
			{cmd: deleteCmd("g", 1)},
		}, []CommittedOffset{entry("g", 2, 0, 5, "", 100)}},
		{"delete of a missing entry", []step{
			{cmd: commitCmd(100, "g", 1, 0, 5, "")},
			{cmd: deleteCmd("other", 1)},
		}, []CommittedOffset{entry("g", 1, 0, 5, "", 100)}},
		{"commit after delete starts over", []step{
			{cmd: commitCmd(100, "g", 2, 7, 5, "")},
			{cmd: deleteCmd("g", 2)},
			{cmd: commitCmd(200, "g", 2, 1, 6, "")},
		}, []CommittedOffset{entry("g", 2, 1, 6, "", 200)}},
		{"invalid fields refused, not fatal", []step{
			{cmd: commitCmd(100, "g", 1, 0, 5, "")},
			{cmd: commitCmd(1, "", 1, 0, 5, ""), wantErr: ErrInvalidOffsetCommit, detail: invalid("group")},
			{cmd: commitCmd(1, strings.Repeat("g", MaxGroupBytes+1), 1, 0, 5, ""), wantErr: ErrInvalidOffsetCommit, detail: invalid("group")},
			{cmd: commitCmd(1, "g\n", 1, 0, 5, ""), wantErr: ErrInvalidOffsetCommit, detail: invalid("group")},
			{cmd: commitCmd(1, "g\x7f", 1, 0, 5, ""), wantErr: ErrInvalidOffsetCommit, detail: invalid("group")},
			{cmd: commitCmd(1, "g\xff", 1, 0, 5, ""), wantErr: ErrInvalidOffsetCommit, detail: invalid("group")},
			{cmd: commitCmd(1, "g", 0, 0, 5, ""), wantErr: ErrInvalidOffsetCommit, detail: invalid("incarnation")},
			{cmd: commitCmd(1, "g", 1, -1, 5, ""), wantErr: ErrInvalidOffsetCommit, detail: invalid("generation")},
			{cmd: commitCmd(1, "g", 1, 0, -1, ""), wantErr: ErrInvalidOffsetCommit, detail: invalid("offset")},
			{cmd: commitCmd(1, "g", 1, 0, 5, strings.Repeat("m", MaxOffsetMetadataBytes+1)), wantErr: ErrInvalidOffsetCommit, detail: invalid("metadata")},
			{cmd: deleteCmd("", 1), wantErr: ErrInvalidOffsetCommit, detail: invalid("group")},
			{cmd: deleteCmd("g", 0), wantErr: ErrInvalidOffsetCommit, detail: invalid("incarnation")},
		}, []CommittedOffset{entry("g", 1, 0, 5, "", 100)}},
		{"limits accepted", []step{
			{cmd: commitCmd(100, strings.Repeat("g", MaxGroupBytes), 1, 1<<31-1, 5, strings.Repeat("m", MaxOffsetMetadataBytes))},
			{cmd: commitCmd(100, "grüße · 组", 1<<64-1, 0, 5, "\x00\xff")},
		}, []CommittedOffset{
			entry(strings.Repeat("g", MaxGroupBytes), 1, 1<<31-1, 5, strings.Repeat("m", MaxOffsetMetadataBytes), 100),
			entry("grüße · 组", 1<<64-1, 0, 5, "\x00\xff", 100),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, d := offsetReplica(t)
			for i, st := range tc.steps {
				resp := r.Apply(replication.Entry{Index: d.index + 1, Term: 1, Data: st.cmd})
				d.index++
				if fe, ok := resp.(*replication.FatalError); ok {
					t.Fatalf("step %d: fatal: %v", i, fe)
				}
				err, _ := resp.(error)
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("step %d: Apply = %v, want %v", i, resp, st.wantErr)
				}
				checkDetail(t, i, err, st.detail)
				if err == nil && bytes.Equal(st.cmd[:2], []byte{commandVersion, cmdCommitOffset}) {
					if e, ok := resp.(CommittedOffset); !ok || r.offsets.table[e.Group] != e {
						t.Fatalf("step %d: Apply = %#v, not the stored entry", i, resp)
					}
				}
			}
			if got := r.CommittedOffsets(); !slices.Equal(got, tc.want) {
				t.Fatalf("table %+v\nwant  %+v", got, tc.want)
			}
			if r.offsetBytes != r.offsets.table.size() {
				t.Fatalf("tracked table size %d, actual %d", r.offsetBytes, r.offsets.table.size())
			}
			// Every step was applied (refusals too); the partition goes on.
			if r.AppliedIndex() != d.index {
				t.Fatalf("applied %d, want %d", r.AppliedIndex(), d.index)
			}
			if _, err := r.Produce(context.Background(), plain(t, 1)); err != nil {
				t.Fatalf("produce after the steps: %v", err)
			}
		})
	}
}

func checkDetail(t *testing.T, step int, err, want error) {
	t.Helper()
	switch w := want.(type) {
	case nil:
	case *StaleGenerationError:
		var got *StaleGenerationError
		if !errors.As(err, &got) || *got != *w {
			t.Fatalf("step %d: %v, want %+v", step, err, w)
		}
	case *OffsetBeyondLogEndError:
		var got *OffsetBeyondLogEndError
		if !errors.As(err, &got) || *got != *w {
			t.Fatalf("step %d: %v, want %+v", step, err, w)
		}
	case *InvalidOffsetCommitError:
		var got *InvalidOffsetCommitError
		if !errors.As(err, &got) || got.Field != w.Field {
			t.Fatalf("step %d: %v, want field %s", step, err, w.Field)
		}
	default:
		t.Fatalf("step %d: detail of type %T", step, want)
	}
}

// TestOffsetCommitClock: an offset commit moves the state machine's clock
// (which expires producers) like a produce, refused or not.
func TestOffsetCommitClock(t *testing.T) {
	r, d := offsetReplica(t)
	for _, tc := range []struct {
		cmd  []byte
		want int64
	}{
		{commitCmd(5_000_000_000_000, "g", 1, 0, 5, ""), 5_000_000_000_000},
		{commitCmd(4_000_000_000_000, "g", 1, 0, 5, ""), 5_000_000_000_000},
		{commitCmd(6_000_000_000_000, "g", 1, 0, 99, ""), 6_000_000_000_000},
		{deleteCmd("g", 1), 6_000_000_000_000},
	} {
		if _, err := d.Propose(context.Background(), tc.cmd); err != nil && !errors.Is(err, ErrOffsetBeyondLogEnd) {
			t.Fatal(err)
		}
		if r.clock != tc.want {
			t.Fatalf("clock %d, want %d", r.clock, tc.want)
		}
	}
}

func TestCommitOffsetAPI(t *testing.T) {
	n := newNode(t, vfs.NewMem())
	cfg := n.config("p0")
	now := time.UnixMilli(1_700_000_000_123)
	cfg.Now = func() time.Time { return now }
	r, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	good := OffsetCommit{Group: "g", Incarnation: 1, Generation: 2, Offset: 0, Metadata: "x"}
	if _, err := r.CommitOffset(ctx, good); !errors.Is(err, ErrNoProposer) {
		t.Fatalf("CommitOffset without a group: %v", err)
	}
	if err := r.DeleteGroupOffsets(ctx, "g", 1); !errors.Is(err, ErrNoProposer) {
		t.Fatalf("DeleteGroupOffsets without a group: %v", err)
	}
	d := &direct{r: r, term: 1}
	r.Attach(d)

	// Invalid requests are refused before anything is proposed.
	for _, tc := range []struct {
		field string
		c     OffsetCommit
	}{
		{"group", OffsetCommit{Group: "", Incarnation: 1}},
		{"group", OffsetCommit{Group: strings.Repeat("x", MaxGroupBytes+1), Incarnation: 1}},
		{"group", OffsetCommit{Group: strings.Repeat("x", 1<<17), Incarnation: 1}},
		{"group", OffsetCommit{Group: "a\tb", Incarnation: 1}},
		{"group", OffsetCommit{Group: "\xc3", Incarnation: 1}},
		{"incarnation", OffsetCommit{Group: "g"}},
		{"generation", OffsetCommit{Group: "g", Incarnation: 1, Generation: -1}},
		{"offset", OffsetCommit{Group: "g", Incarnation: 1, Offset: -5}},
		{"metadata", OffsetCommit{Group: "g", Incarnation: 1, Metadata: strings.Repeat("m", 1<<17)}},
	} {
		_, err := r.CommitOffset(ctx, tc.c)
		var ie *InvalidOffsetCommitError
		if !errors.Is(err, ErrInvalidOffsetCommit) || !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("CommitOffset(%.20q): %v, want field %s", tc.c.Group, err, tc.field)
		}
	}
	for _, tc := range []struct {
		group string
		inc   uint64
	}{{"", 1}, {"g", 0}, {"a\x00", 1}} {
		if err := r.DeleteGroupOffsets(ctx, tc.group, tc.inc); !errors.Is(err, ErrInvalidOffsetCommit) {
			t.Errorf("DeleteGroupOffsets(%q, %d): %v", tc.group, tc.inc, err)
		}
	}
	if d.index != 0 {
		t.Fatalf("%d invalid requests were proposed", d.index)
	}

	want := CommittedOffset{Group: "g", Incarnation: 1, Generation: 2, Offset: 0, Metadata: "x", CommitTime: now.UnixMilli()}
	if got, err := r.CommitOffset(ctx, good); err != nil || got != want {
		t.Fatalf("CommitOffset = %+v, %v; want %+v", got, err, want)
	}
	if got, ok := r.CommittedOffset("g"); !ok || got != want {
		t.Fatalf("CommittedOffset = %+v, %v", got, ok)
	}
	if _, ok := r.CommittedOffset("other"); ok {
		t.Fatal("CommittedOffset of an unknown group found one")
	}
	stale := good
	stale.Generation = 1
	if _, err := r.CommitOffset(ctx, stale); !errors.Is(err, ErrStaleGeneration) {
		t.Fatalf("stale commit: %v", err)
	}
	beyond := good
	beyond.Offset = 1
	var be *OffsetBeyondLogEndError
	if _, err := r.CommitOffset(ctx, beyond); !errors.As(err, &be) || be.LogEnd != 0 {
		t.Fatalf("commit beyond the end: %v", err)
	}
	if err := r.DeleteGroupOffsets(ctx, "g", 1); err != nil {
		t.Fatal(err)
	}
	if got := r.CommittedOffsets(); len(got) != 0 {
		t.Fatalf("after delete: %+v", got)
	}
}

func TestCommittedOffsetsSorted(t *testing.T) {
	r, _ := offsetReplica(t)
	groups := []string{"b", "a", "c", "ab", "B", "é"}
	for _, g := range groups {
		if _, err := r.CommitOffset(context.Background(), OffsetCommit{Group: g, Incarnation: 1, Offset: 5}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, e := range r.CommittedOffsets() {
		got = append(got, e.Group)
	}
	slices.Sort(groups)
	if !slices.Equal(got, groups) {
		t.Fatalf("groups %q, want %q", got, groups)
	}
}

// TestOffsetTableFull: a commit that would grow the encoded table past
// MaxOffsetTableBytes is refused; overwrites that do not grow it and
// deletes still go through.
func TestOffsetTableFull(t *testing.T) {
	r, d := offsetReplica(t)
	ctx := context.Background()
	if _, err := r.CommitOffset(ctx, OffsetCommit{Group: "g", Incarnation: 1, Offset: 5, Metadata: "abc"}); err != nil {
		t.Fatal(err)
	}
	// Pretend the rest of the table is taken up (filling 16 MiB for real
	// is slow and tells nothing more).
	r.offsetBytes = MaxOffsetTableBytes
	if _, err := r.CommitOffset(ctx, OffsetCommit{Group: "h", Incarnation: 1, Offset: 5}); !errors.Is(err, ErrOffsetTableFull) {
		t.Fatalf("new group in a full table: %v", err)
	}
	if _, err := r.CommitOffset(ctx, OffsetCommit{Group: "g", Incarnation: 1, Offset: 6, Metadata: "abcd"}); !errors.Is(err, ErrOffsetTableFull) {
		t.Fatalf("growing overwrite in a full table: %v", err)
	}
	if _, err := r.CommitOffset(ctx, OffsetCommit{Group: "g", Incarnation: 1, Offset: 7, Metadata: "xyz"}); err != nil {
		t.Fatalf("same-size overwrite in a full table: %v", err)
	}
	if err := r.DeleteGroupOffsets(ctx, "g", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CommitOffset(ctx, OffsetCommit{Group: "h", Incarnation: 1, Offset: 5}); err != nil {
		t.Fatalf("after a delete made room: %v", err)
	}
	if d.index == 0 {
		t.Fatal("nothing proposed")
	}
}

func TestOffsetTableCodec(t *testing.T) {
	table := offsetTable{
		"b":                      {Group: "b", Incarnation: 2, Generation: 7, Offset: 1 << 40, Metadata: "meta", CommitTime: -5},
		"a":                      {Group: "a", Incarnation: 1, CommitTime: 1 << 50},
		strings.Repeat("z", 249): {Group: strings.Repeat("z", 249), Incarnation: 1<<64 - 1, Metadata: strings.Repeat("m", 4096)},
		"grüße":                  {Group: "grüße", Incarnation: 3, Generation: 1<<31 - 1},
	}
	sorted := slices.SortedFunc(maps.Values(table), func(a, b CommittedOffset) int { return strings.Compare(a.Group, b.Group) })
	enc := table.appendTo([]byte("prefix"))
	if !bytes.Equal(enc[6:], referenceOffsetTable(sorted)) {
		t.Fatal("encoding differs from the documented format")
	}
	if int64(len(enc)-6) != table.size() {
		t.Fatalf("size %d, encoded %d", table.size(), len(enc)-6)
	}
	got, rest, err := decodeOffsetTable(append(enc[6:], 9, 9))
	if err != nil || !bytes.Equal(rest, []byte{9, 9}) || len(got) != len(table) {
		t.Fatalf("decode: %d entries, rest %v, %v", len(got), rest, err)
	}
	for g, e := range table {
		if got[g] != e {
			t.Fatalf("group %q: %+v, want %+v", g, got[g], e)
		}
	}
	if got, rest, err := decodeOffsetTable([]byte{0, 0, 0, 0}); err != nil || got == nil || len(got) != 0 || len(rest) != 0 {
		t.Fatalf("empty table: %v %v %v", got, rest, err)
	}

	one := func(e CommittedOffset) []byte { return referenceOffsetTable([]CommittedOffset{e}) }
	good := CommittedOffset{Group: "g", Incarnation: 1}
	count := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	for name, b := range map[string][]byte{
		"empty":          nil,
		"short count":    {0, 0, 1},
		"count too big":  count(1 << 31),
		"count over one": append(count(2), one(good)[4:]...),
		"truncated":      one(good)[:len(one(good))-1],
		"group length":   append(count(1), append([]byte{0xff, 0xff}, make([]byte, 30)...)...),
		"out of order":   referenceOffsetTable([]CommittedOffset{{Group: "b", Incarnation: 1}, {Group: "a", Incarnation: 1}}),
		"duplicate":      referenceOffsetTable([]CommittedOffset{good, good}),
		"empty group":    one(CommittedOffset{Incarnation: 1}),
		"control char":   one(CommittedOffset{Group: "a\x01", Incarnation: 1}),
		"incarnation 0":  one(CommittedOffset{Group: "g"}),
		"generation":     one(CommittedOffset{Group: "g", Incarnation: 1, Generation: -1}),
		"offset":         one(CommittedOffset{Group: "g", Incarnation: 1, Offset: -1}),
		"metadata":       one(CommittedOffset{Group: "g", Incarnation: 1, Metadata: strings.Repeat("m", 4097)}),
		"group too long": one(CommittedOffset{Group: strings.Repeat("g", 250), Incarnation: 1}),
	} {
		_, _, err := decodeOffsetTable(b)
		if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalidOffsetCommit) {
			t.Errorf("%s: %v, want ErrCorrupt (only)", name, err)
		}
	}
}

// TestCommittedOffsetReadersDuringApply reads the table from several
// goroutines while Apply commits, deletes and Restore replaces it (run with
// -race). Every entry read is whole: its metadata names its offset.
func TestCommittedOffsetReadersDuringApply(t *testing.T) {
	_, snap := snapshotBytes(t, 5)
	r := newNode(t, vfs.NewMem()).open(t, "p0")
	defer r.Close()
	r.Attach(&direct{r: r, term: 1})
	ctx := context.Background()
	if _, err := r.Produce(ctx, plain(t, 50)); err != nil {
		t.Fatal(err)
	}
	whole := func(e CommittedOffset) bool {
		return strings.HasPrefix(e.Group, "group-") || e.Metadata == fmt.Sprint(e.Offset)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if e, ok := r.CommittedOffset(fmt.Sprint("g", i%2)); ok && !whole(e) {
					errs <- fmt.Errorf("torn entry %+v", e)
					return
				}
				for _, e := range r.CommittedOffsets() {
					if !whole(e) {
						errs <- fmt.Errorf("torn entry %+v", e)
						return
					}
				}
			}
		}()
	}
	for i := range 400 {
		g := fmt.Sprint("g", i%2)
		off := int64(i % 50)
		if _, err := r.CommitOffset(ctx, OffsetCommit{Group: g, Incarnation: 1, Offset: off, Metadata: fmt.Sprint(off)}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			if err := r.DeleteGroupOffsets(ctx, g, 1); err != nil {
				t.Fatal(err)
			}
		}
		if i == 200 {
			if err := r.Restore(bytes.NewReader(snap)); err != nil {
				t.Fatal(err)
			}
			r.Attach(&direct{r: r, term: 1, index: r.AppliedIndex()})
			if _, err := r.Produce(ctx, plain(t, 50)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
