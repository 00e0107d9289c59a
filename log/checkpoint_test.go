package log

import (
	"errors"
	"math"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestCheckpointRoundTrip(t *testing.T) {
	for _, off := range []int64{0, 1, 4096, math.MaxInt64} {
		got, err := decodeCheckpoint(encodeCheckpoint(off))
		if err != nil || got != off {
			t.Errorf("round trip %d = %d, %v", off, got, err)
		}
	}
}

func TestCheckpointBad(t *testing.T) {
	good := encodeCheckpoint(77)
	neg := encodeCheckpoint(-1)
	tests := map[string][]byte{
		"empty":     {},
		"short":     good[:11],
		"long":      append(append([]byte(nil), good...), 0),
		"bad crc":   append(append([]byte(nil), good[:11]...), good[11]^1),
		"bad value": append([]byte{1}, good[1:]...),
		"negative":  neg,
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeCheckpoint(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode = %v, want ErrCorrupt", err)
			}
			fs := vfs.NewMem()
			if err := fs.MkdirAll("p", 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := fs.Create("p/"+checkpointName, vfs.WriteCategoryUnspecified)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.Write(b)
			_ = f.Close()
			if _, err := Open(Config{FS: fs, Dir: "p"}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
}

func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeCheckpoint(0))
	f.Add(encodeCheckpoint(math.MaxInt64))
	f.Add(encodeCheckpoint(-5))
	f.Add(append(encodeCheckpoint(9), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		off, err := decodeCheckpoint(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if off < 0 || string(encodeCheckpoint(off)) != string(b) {
			t.Fatalf("decoded %d does not round trip", off)
		}
	})
}
