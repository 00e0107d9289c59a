package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// sameEntry reports whether a and b hold the same entry as the codec sees
// it: nil and empty byte slices are equal, times compare with Equal.
func sameEntry(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.IsZero() == b.AppendedAt.IsZero() && a.AppendedAt.Equal(b.AppendedAt)
}

func TestEntryRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0xa5}, 1<<20)
	tests := []struct {
		name string
		l    raft.Log
	}{
		{"minimal", raft.Log{Index: 1, Term: 1}},
		{"command", raft.Log{Index: 7, Term: 3, Type: raft.LogCommand, Data: []byte("hello"),
			AppendedAt: time.Unix(1_700_000_000, 123_456_789)}},
		{"extensions only", raft.Log{Index: 8, Term: 3, Type: raft.LogNoop, Extensions: []byte{0, 1, 2}}},
		{"both fields", raft.Log{Index: 9, Term: 4, Type: raft.LogBarrier, Data: []byte{0xff}, Extensions: []byte("ext")}},
		{"configuration", raft.Log{Index: 10, Term: 5, Type: raft.LogConfiguration, Data: []byte("conf")}},
		{"varint boundary 127", raft.Log{Index: 11, Term: 5, Data: big[:127], Extensions: big[:128]}},
		{"1 MiB data", raft.Log{Index: 12, Term: 5, Data: big, AppendedAt: time.Unix(0, 1)}},
		{"max integers", raft.Log{Index: math.MaxUint64, Term: math.MaxUint64, Type: maxLogType,
			AppendedAt: time.Unix(0, math.MaxInt64)}},
		{"before 1970", raft.Log{Index: 13, Term: 1, AppendedAt: time.Unix(0, -1)}},
		{"min time", raft.Log{Index: 14, Term: 1, AppendedAt: time.Unix(0, math.MinInt64)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			enc := encodeEntry(append([]byte(nil), prefix...), &tt.l)
			if !bytes.HasPrefix(enc, prefix) {
				t.Fatal("encodeEntry did not append")
			}
			enc = enc[len(prefix):]
			if len(enc) != encodedEntryLen(&tt.l) {
				t.Fatalf("encoded %d bytes, encodedEntryLen says %d", len(enc), encodedEntryLen(&tt.l))
			}
			var got raft.Log
			if err := decodeEntry(enc, &got); err != nil {
				t.Fatal(err)
			}
			if !sameEntry(&got, &tt.l) {
				t.Fatalf("decoded %+v, want %+v", got, tt.l)
			}
			if len(tt.l.Data) == 0 && got.Data != nil || len(tt.l.Extensions) == 0 && got.Extensions != nil {
				t.Fatalf("empty fields decode as nil, got %#v and %#v", got.Data, got.Extensions)
			}
			// The decoded slices are the caller's: they do not alias the
			// input, and appending to Data cannot overwrite Extensions.
			for i := range enc {
				enc[i] ^= 0xff
			}
			if !sameEntry(&got, &tt.l) {
				t.Fatal("decoded entry changed with its input bytes")
			}
			if len(got.Data) > 0 && len(got.Extensions) > 0 {
				ext := append([]byte(nil), got.Extensions...)
				_ = append(got.Data, 0xee)
				if !bytes.Equal(got.Extensions, ext) {
					t.Fatal("append to Data overwrote Extensions")
				}
			}
		})
	}
}

// TestEntryZeroTime: the zero time survives, and time.Unix(0, 0) shares its
// encoding (documented on encodeEntry).
func TestEntryZeroTime(t *testing.T) {
	for _, at := range []time.Time{{}, time.Unix(0, 0)} {
		var got raft.Log
		got.AppendedAt = time.Now()
		if err := decodeEntry(encodeEntry(nil, &raft.Log{Index: 1, AppendedAt: at}), &got); err != nil {
			t.Fatal(err)
		}
		if !got.AppendedAt.IsZero() {
			t.Fatalf("%v decoded as %v, want the zero time", at, got.AppendedAt)
		}
	}
}

func TestDecodeEntryCorrupt(t *testing.T) {
	valid := encodeEntry(nil, &raft.Log{Index: 5, Term: 2, Data: []byte("data"), Extensions: []byte("ext")})
	dataLenAt := entryHeaderLen
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }
	header := func(dataLen []byte) []byte {
		return append(append([]byte(nil), valid[:entryHeaderLen]...), dataLen...)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{entryVersion1}},
		{"header cut", valid[:entryHeaderLen-1]},
		{"no length fields", valid[:entryHeaderLen]},
		{"version 0", with(func(b []byte) []byte { b[0] = 0; return b })},
		{"version 2", with(func(b []byte) []byte { b[0] = 2; return b })},
		{"type 6", with(func(b []byte) []byte { b[17] = byte(maxLogType) + 1; return b })},
		{"type 255", with(func(b []byte) []byte { b[17] = 0xff; return b })},
		{"data cut", valid[:dataLenAt+3]},
		{"extensions length missing", valid[:dataLenAt+5]},
		{"extensions cut", valid[:len(valid)-1]},
		{"trailing byte", append(append([]byte(nil), valid...), 0)},
		{"data length past the end", with(func(b []byte) []byte { b[dataLenAt] = 100; return b })},
		{"data length max uint64", header(binary.AppendUvarint(nil, math.MaxUint64))},
		{"data length 2^62", header(binary.AppendUvarint(nil, 1<<62))},
		{"varint overflow", header(bytes.Repeat([]byte{0xff}, 11))},
		{"varint cut", header([]byte{0x80})},
		{"non-minimal varint", append(header([]byte{0x80, 0x00}), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := raft.Log{Index: 99, Data: []byte("keep")}
			got := before
			err := decodeEntry(tt.b, &got)
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("decodeEntry = %v, want ErrCorruptEntry", err)
			}
			if !sameEntry(&got, &before) {
				t.Fatalf("a failed decode changed the entry to %+v", got)
			}
		})
	}
}

// FuzzDecodeEntry checks that decodeEntry never panics, that what it
// accepts is canonical (re-encoding gives the same bytes) and bounded (the
// byte fields fit in the input), and that an entry built from the input
// round-trips through encodeEntry.
func FuzzDecodeEntry(f *testing.F) {
	valid := encodeEntry(nil, &raft.Log{Index: 3, Term: 2, Type: raft.LogCommand, Data: []byte("payload"),
		Extensions: []byte{1}, AppendedAt: time.Unix(1_700_000_000, 5)})
	zero := encodeEntry(nil, &raft.Log{Index: 1})
	maxLen := append(append([]byte(nil), zero[:entryHeaderLen]...), binary.AppendUvarint(nil, math.MaxUint64)...)
	f.Add([]byte{})
	f.Add(zero)
	f.Add(maxLen)
	f.Add(encodeEntry(nil, &raft.Log{Index: 2, Data: bytes.Repeat([]byte{7}, 300)}))
	f.Add(valid)
	f.Add(append(append([]byte(nil), valid...), "garbage"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeEntry(b, &l); err == nil {
			if len(l.Data)+len(l.Extensions) > len(b) {
				t.Fatalf("decoded %d bytes of fields from %d input bytes", len(l.Data)+len(l.Extensions), len(b))
			}
			if re := encodeEntry(nil, &l); !bytes.Equal(re, b) {
				t.Fatalf("re-encoding gives %x, want %x", re, b)
			}
		} else if !errors.Is(err, ErrCorruptEntry) {
			t.Fatalf("decodeEntry = %v, want nil or ErrCorruptEntry", err)
		}

		// Build a valid entry from the input and round-trip it.
		x := raft.Log{Index: 1, Term: uint64(len(b))}
		if len(b) >= 18 {
			x.Index = binary.BigEndian.Uint64(b)
			x.Term = binary.BigEndian.Uint64(b[8:])
			x.Type = raft.LogType(b[16]) % (maxLogType + 1)
			if ns := int64(b[17]) << 40; ns != 0 {
				x.AppendedAt = time.Unix(0, ns)
			}
			rest := b[18:]
			x.Data, x.Extensions = rest[:len(rest)/2], rest[len(rest)/2:]
		}
		enc := encodeEntry(nil, &x)
		var y raft.Log
		if err := decodeEntry(enc, &y); err != nil {
			t.Fatalf("decode(encode(%+v)) = %v", x, err)
		}
		if !sameEntry(&x, &y) {
			t.Fatalf("decode(encode(x)) = %+v, want %+v", y, x)
		}
	})
}
