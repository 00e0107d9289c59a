package replication

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
)

// TestLatestConfiguration: the newest configuration is the last one in the
// log, unless a snapshot's is newer; no entry and no snapshot is none; a
// configuration entry that does not decode is ErrCorruptEntry, not a
// panic.
func TestLatestConfiguration(t *testing.T) {
	conf := func(ids ...string) raft.Configuration {
		var c raft.Configuration
		for _, id := range ids {
			c.Servers = append(c.Servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id + ":1"), Suffrage: raft.Voter})
		}
		return c
	}
	confEntry := func(index uint64, c raft.Configuration) *raft.Log {
		return &raft.Log{Index: index, Term: 1, Type: raft.LogConfiguration, Data: raft.EncodeConfiguration(c)}
	}
	cmd := func(index uint64) *raft.Log {
		return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: []byte("x")}
	}
	snap := func(index uint64, c raft.Configuration) []*raft.SnapshotMeta {
		return []*raft.SnapshotMeta{{Index: index + 5, ConfigurationIndex: index, Configuration: c}}
	}
	tests := []struct {
		name      string
		logs      []*raft.Log
		snaps     []*raft.SnapshotMeta
		want      []string
		wantIndex uint64
		wantErr   error
	}{
		{"nothing", nil, nil, nil, 0, nil},
		{"log only", []*raft.Log{confEntry(1, conf("a")), cmd(2), confEntry(3, conf("a", "b", "c")), cmd(4)}, nil,
			[]string{"a", "b", "c"}, 3, nil},
		{"snapshot only", nil, snap(7, conf("a", "b")), []string{"a", "b"}, 7, nil},
		{"log newer than the snapshot", []*raft.Log{cmd(10), confEntry(11, conf("x", "y")), cmd(12)}, snap(7, conf("a", "b")),
			[]string{"x", "y"}, 11, nil},
		{"snapshot newer than the log's", []*raft.Log{confEntry(3, conf("x")), cmd(20)}, snap(7, conf("a", "b")),
			[]string{"a", "b"}, 7, nil},
		{"undecodable entry", []*raft.Log{{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte{0xc1, 0xff}}}, nil,
			nil, 0, ErrCorruptEntry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openStoreDB(t, vfs.NewMem(), nil)
			defer db.Close()
			g := mustGroup(t, NewStore(db), "p")
			if len(tt.logs) > 0 {
				if err := g.StoreLogs(tt.logs); err != nil {
					t.Fatal(err)
				}
			}
			c, index, err := LatestConfiguration(g, tt.snaps)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			var got []string
			for _, s := range c.Servers {
				got = append(got, string(s.ID))
			}
			if err != nil || index != tt.wantIndex || len(got) != len(tt.want) {
				t.Fatalf("LatestConfiguration = %v at %d, %v; want %v at %d", got, index, err, tt.want, tt.wantIndex)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("servers %v, want %v", got, tt.want)
				}
			}
		})
	}
}
