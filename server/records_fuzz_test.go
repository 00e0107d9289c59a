package server

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeRecord: any bytes either decode to a replica record that
// encodes back to the same bytes, or are refused with ErrCorrupt.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{recordVersion})
	for _, r := range []replicaRecord{
		{state: replicaLive},
		{state: replicaRemoving, incarnation: 3, version: 1 << 40},
		{state: replicaGone, incarnation: 1<<64 - 1, version: 1<<64 - 1},
	} {
		b := r.encode()
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(b, 0))
	}
	f.Add(replicaRecord{state: replicaGone + 1}.encode())
	f.Add(replicaRecord{state: 0}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if r.state < replicaLive || r.state > replicaGone {
			t.Fatalf("decoded state %d", r.state)
		}
		if again := r.encode(); !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x, want %x", again, b)
		}
	})
}

// FuzzParseRecordKey: every record key parses back to its id, and a key
// that parses is exactly the record key of that id (an overlong uvarint
// length, which binary.Uvarint accepts and recordKey never writes, does
// not parse: two keys would name one partition).
func FuzzParseRecordKey(f *testing.F) {
	f.Add([]byte{}, "s1-p0")
	f.Add([]byte{recordPrefix, recordKind}, "")
	f.Add(recordKey("s1-p0"), "s1-p10")
	f.Add(recordKey(""), strings.Repeat("x", 200))
	f.Add(append(recordKey("s1-p0"), 'r'), "s1-p0@2")
	long := recordKey(strings.Repeat("p", 300)) // a 2-byte uvarint length
	f.Add(long, "\xff")
	f.Add(long[:len(long)-1], "a\x00b")
	f.Add([]byte{recordPrefix, 0x80, 0x00, recordKind}, "") // an overlong length: id ""
	f.Add([]byte{recordPrefix, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, recordKind}, "")
	f.Fuzz(func(t *testing.T, k []byte, id string) {
		if got, ok := parseRecordKey(recordKey(id)); !ok || got != id {
			t.Fatalf("parseRecordKey(recordKey(%q)) = %q, %v", id, got, ok)
		}
		got, ok := parseRecordKey(k)
		if !ok {
			return
		}
		if !bytes.Equal(recordKey(got), k) {
			t.Fatalf("key %x parsed to %q, whose key is %x", k, got, recordKey(got))
		}
	})
}
