package replication

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// Member is a member of a group's configuration.
type Member struct {
	Peer
	// Voter is false for a non-voter: it receives the log, but neither
	// votes nor counts toward commit.
	Voter bool
}

// Configuration returns the group's latest configuration as this replica
// knows it, committed or not, with each member's suffrage (Members
// without it).
//
// A removed member may never learn the configuration that removes it:
// raft's leader stops replicating to it at once, with a single
// best-effort append that it skips when it is busy sending to that member
// at that moment. A member demoted to non-voter (DemoteVoter) keeps
// receiving the log, so it learns its demotion.
func (g *Group) Configuration() ([]Member, error) {
	f := g.raft.GetConfiguration()
	bindShutdown(f, g.stopped)
	if err := f.Error(); err != nil {
		return nil, g.mapError(err)
	}
	servers := f.Configuration().Servers
	out := make([]Member, len(servers))
	for i, s := range servers {
		out[i] = Member{Peer: Peer{ID: string(s.ID), Addr: string(s.Address)}, Voter: s.Suffrage == raft.Voter}
	}
	return out, nil
}

// DemoteVoter makes member id a non-voter; this replica must lead. It
// returns once the change is committed; committing it does not need id.
// Demoting a non-voter changes nothing. Errors: as AddVoter.
func (g *Group) DemoteVoter(ctx context.Context, id string) error {
	return g.indexFuture(ctx, func(timeout time.Duration) raft.IndexFuture {
		return g.raft.DemoteVoter(raft.ServerID(id), 0, timeout)
	})
}
