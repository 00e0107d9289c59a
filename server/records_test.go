package server

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(string, ...any) {}

func TestReplicaRecords(t *testing.T) {
	db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]replicaRecord{
		"s1-p0":  {state: replicaLive, incarnation: 0, version: 7},
		"s1-p10": {state: replicaRemoving, incarnation: 3, version: 1 << 40},
		"s2-p1":  {state: replicaGone, incarnation: 1<<64 - 1, version: 0},
	}
	for id, r := range want {
		if err := storeRecord(db, id, r, false); err != nil {
			t.Fatal(err)
		}
	}
	// Keys of other users of the Pebble around the records' range.
	for _, k := range []string{"p\x05s1-p0c", "t", "\x01x"} {
		if err := db.Set([]byte(k), []byte("x"), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := storeRecord(db, "s9-p9", replicaRecord{state: replicaLive}, false); err != nil {
		t.Fatal(err)
	}
	if err := storeRecord(db, "s9-p9", replicaRecord{}, true); err != nil {
		t.Fatal(err)
	}
	got, err := loadRecords(db)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("loaded %v, want %v", got, want)
	}
	for id, r := range want {
		if got[id] != r {
			t.Fatalf("%s: %+v, want %+v", id, got[id], r)
		}
	}
	if id := (replicaRecord{incarnation: 0}).stateID("s1-p0"); id != "s1-p0" {
		t.Fatalf("first incarnation's state id %q", id)
	}
	if id := (replicaRecord{incarnation: 2}).stateID("s1-p0"); id != "s1-p0@2" {
		t.Fatalf("state id %q", id)
	}

	// Bad values and keys refuse to load, as ErrCorrupt.
	for _, bad := range []struct{ key, value []byte }{
		{recordKey("s3-p0"), nil},
		{recordKey("s3-p0"), []byte{2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{recordKey("s3-p0"), []byte{1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{recordKey("s3-p0"), append((replicaRecord{state: replicaLive}).encode(), 0)},
		{[]byte{recordPrefix, 9, 'a', recordKind}, (replicaRecord{state: replicaLive}).encode()},
	} {
		if err := db.Set(bad.key, bad.value, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if _, err := loadRecords(db); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("key %q value %x: %v, want ErrCorrupt", bad.key, bad.value, err)
		}
		if err := db.Delete(bad.key, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
}
