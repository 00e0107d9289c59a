package partition

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{commandVersion})
	f.Add(encodeAdvanceLogStart(0))
	f.Add(encodeAdvanceLogStart(1 << 62))
	f.Add(encodeProduce(nil, 5, []byte("not a batch")))
	f.Add(append(encodeAdvanceLogStart(3), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		var again []byte
		switch c.typ {
		case cmdProduce:
			again = encodeProduce(nil, c.timestamp, c.batch)
		case cmdAdvanceLogStart:
			again = encodeAdvanceLogStart(c.offset)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzDecodeCheckpoint(f *testing.F) {
	p := producers{}
	p.record(headerOf(f, idempotent(f, 3, 1, 0, 2)), 99)
	full := checkpoint{applied: 7, logEnd: 12, clock: 99, producers: p}
	empty := checkpoint{producers: producers{}}
	f.Add([]byte{})
	f.Add(empty.encode())
	f.Add(full.encode())
	f.Add(append(full.encode(), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCheckpoint(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(c.encode(), b) {
			t.Fatalf("round trip differs")
		}
	})
}

// FuzzRestore feeds arbitrary bytes to Restore: it must refuse them with
// ErrCorrupt (or accept a valid stream) and the replica must keep serving.
func FuzzRestore(f *testing.F) {
	_, snap := snapshotBytes(f, 5)
	f.Add([]byte{})
	f.Add(snap)
	f.Add(snap[:50])
	f.Add(append([]byte(snapshotMagic), snapshotVersion))
	// One Pebble for all runs (opening one is slow); a fresh replica each.
	n := newNode(f, vfs.NewMem())
	runs := 0
	f.Fuzz(func(t *testing.T, b []byte) {
		runs++
		id := fmt.Sprint("p", runs)
		r := n.open(t, id)
		defer func() {
			_ = r.Close()
			_ = n.fs.RemoveAll(n.config(id).Log.Dir)
		}()
		if err := r.Restore(bytes.NewReader(b)); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Restore = %v", err)
			}
			if r.HighWatermark() != 0 {
				t.Fatalf("refused restore changed the replica")
			}
		}
	})
}
