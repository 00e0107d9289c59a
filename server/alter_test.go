package server

import (
	"testing"
	"time"

	"github.com/sluicedb/sluice/metadata"
)

// TestAlterStreamRetention: retention altered on a live stream reaches its
// open replicas, and the leader's retention pass then trims every replica's
// log; an invalid alteration is refused and changes nothing.
func TestAlterStreamRetention(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.RetentionInterval = 50 * time.Millisecond })
	c.waitActive("n1", "n2", "n3")
	ctx := ctxFor(t, 30*time.Second)
	s, err := c.leader().CreateStream(ctx, metadata.CreateStream{Name: "ret", Partitions: 1, ReplicationFactor: 3, RetentionMs: metadata.Unlimited, RetentionBytes: metadata.Unlimited})
	if err != nil {
		t.Fatal(err)
	}
	id := s.Partitions[0].ID
	p := &producer{c: c, id: id, pid: 7}
	p.produce(60) // ~70 KiB in 16 KiB segments
	_, r := c.waitLeaderOf(id)
	if r.LogStartOffset() != 0 {
		t.Fatalf("log start %d before any retention", r.LogStartOffset())
	}
	if _, err := c.leader().AlterStream(ctx, metadata.AlterStream{Name: "ret", RetentionBytes: -5}); err == nil {
		t.Fatal("AlterStream with RetentionBytes -5 succeeded")
	}
	if got := c.leader().Metadata().Stream("ret").RetentionBytes; got != s.RetentionBytes {
		t.Fatalf("refused alteration changed retention bytes to %d", got)
	}
	alt, err := c.leader().AlterStream(ctx, metadata.AlterStream{Name: "ret", RetentionBytes: 20 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if alt.RetentionBytes != 20<<10 {
		t.Fatalf("altered stream has retention bytes %d", alt.RetentionBytes)
	}
	waitFor(t, 20*time.Second, "every replica trimmed", func() bool {
		for _, n := range c.nodes {
			r, _ := n.Partition(id)
			if r == nil || r.LogStartOffset() == 0 || r.LogBytes() < 20<<10 {
				return false
			}
		}
		return true
	})
}
