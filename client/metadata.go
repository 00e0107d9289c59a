package client

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// streamMeta is the cached routing of one stream. Immutable once cached:
// a change replaces the whole value.
type streamMeta struct {
	name           string
	maxRecordBytes int32      // 0: unknown
	parts          []partMeta // by partition number
}

// partMeta is the routing of one partition.
type partMeta struct {
	leaderID, leaderAddr string // empty while unknown
	// start and end bound the partition's MD5 hash-key range, inclusive,
	// as 128-bit big-endian integers.
	start, end [16]byte
}

// flight is one metadata refresh in progress; done is closed when err is
// set.
type flight struct {
	done chan struct{}
	err  error
}

// stream returns the cached metadata of the named stream, fetching it when
// not cached. It returns an *Error with CodeUnknownStream when the cluster
// has no such stream.
func (c *Client) stream(ctx context.Context, name string) (*streamMeta, error) {
	if sm := c.cached(name); sm != nil {
		return sm, nil
	}
	if err := c.refresh(ctx, name); err != nil {
		return nil, err
	}
	if sm := c.cached(name); sm != nil {
		return sm, nil
	}
	return nil, unknownStream(name)
}

func unknownStream(name string) *Error {
	return &Error{Code: CodeUnknownStream, Msg: fmt.Sprintf("stream %q does not exist", name)}
}

// cached returns the cached metadata of a stream, or nil.
func (c *Client) cached(name string) *streamMeta {
	c.meta.Lock()
	defer c.meta.Unlock()
	return c.meta.streams[name]
}

// refresh fetches the metadata of the named stream ("" = every stream)
// and updates the cache. Concurrent refreshes of the same name share one
// request, which runs on a goroutine of the client so that a caller whose
// ctx ends leaves the others unharmed.
func (c *Client) refresh(ctx context.Context, name string) error {
	c.meta.Lock()
	f := c.meta.flights[name]
	if f == nil {
		f = &flight{done: make(chan struct{})}
		started := c.goTracked(func() {
			rctx, cancel := context.WithTimeout(chanCtx(c.stop), c.cfg.RequestTimeout)
			defer cancel()
			var names []string
			if name != "" {
				names = []string{name}
			}
			err := c.fetchMetadata(rctx, names)
			c.meta.Lock()
			delete(c.meta.flights, name)
			f.err = err
			c.meta.Unlock()
			close(f.done)
		})
		if !started {
			c.meta.Unlock()
			return ErrClosed
		}
		c.meta.flights[name] = f
	}
	c.meta.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetchMetadata asks any node for the metadata of names (nil: all
// streams) and replaces the cached entries. A requested stream the answer
// leaves out, or that the cluster says is unknown, is dropped from the
// cache.
func (c *Client) fetchMetadata(ctx context.Context, names []string) error {
	var resp *sluicev1.GetMetadataResponse
	err := c.anyNodeJudged(ctx, min(c.cfg.RequestTimeout, metadataTimeout), func(ctx context.Context, api sluicev1.SluiceClient) error {
		var err error
		resp, err = api.GetMetadata(ctx, &sluicev1.GetMetadataRequest{Streams: names})
		return err
	}, func() bool { return slices.ContainsFunc(resp.GetStreams(), leaderless) })
	if err != nil {
		if e := asError(err); e != nil && e.Code == CodeUnknownStream && len(names) > 0 {
			c.meta.Lock()
			for _, n := range names {
				delete(c.meta.streams, n)
			}
			c.meta.Unlock()
		}
		return err
	}
	if len(resp.GetNodes()) > 0 {
		c.setNodes(resp.GetNodes())
	}
	got := make(map[string]*streamMeta, len(resp.GetStreams()))
	for _, s := range resp.GetStreams() {
		got[s.GetName()] = toStreamMeta(s)
	}
	c.meta.Lock()
	defer c.meta.Unlock()
	if len(names) == 0 {
		// A refresh of everything: update what is cached, drop what is gone.
		for n := range c.meta.streams {
			if sm, ok := got[n]; ok {
				c.meta.streams[n] = sm
			} else {
				delete(c.meta.streams, n)
			}
		}
		return nil
	}
	for _, n := range names {
		if sm, ok := got[n]; ok {
			c.meta.streams[n] = sm
		} else {
			delete(c.meta.streams, n)
		}
	}
	return nil
}

// toStreamMeta converts a stream of the wire. Partitions are placed by
// their number; a malformed hash key is left zero (the partition then owns
// no keys but can still be written explicitly).
func toStreamMeta(s *sluicev1.Stream) *streamMeta {
	sm := &streamMeta{name: s.GetName(), maxRecordBytes: s.GetMaxRecordBytes()}
	n := 0
	for _, p := range s.GetPartitions() {
		n = max(n, int(p.GetPartition())+1)
	}
	sm.parts = make([]partMeta, n)
	for _, p := range s.GetPartitions() {
		i := p.GetPartition()
		if i < 0 {
			continue
		}
		pm := &sm.parts[i]
		pm.leaderID, pm.leaderAddr = p.GetLeaderId(), p.GetLeaderAddr()
		copy(pm.start[:], p.GetHashKeyStart())
		copy(pm.end[:], p.GetHashKeyEnd())
	}
	return sm
}

// leaderAddr returns the cached client address of the partition's leader,
// or "" when unknown.
func (c *Client) leaderAddr(stream string, part int32) string {
	sm := c.cached(stream)
	if sm == nil || part < 0 || int(part) >= len(sm.parts) {
		return ""
	}
	return sm.parts[part].leaderAddr
}

// setLeader records a leader hint for a partition (copy on write).
func (c *Client) setLeader(stream string, part int32, id, addr string) {
	if addr == "" {
		return
	}
	c.meta.Lock()
	defer c.meta.Unlock()
	sm := c.meta.streams[stream]
	if sm == nil || part < 0 || int(part) >= len(sm.parts) || sm.parts[part].leaderAddr == addr {
		return
	}
	ns := *sm
	ns.parts = slices.Clone(sm.parts)
	ns.parts[part].leaderID, ns.parts[part].leaderAddr = id, addr
	c.meta.streams[stream] = &ns
}

// refreshLoop refreshes every cached stream each MetadataMaxAge until
// Close.
func (c *Client) refreshLoop() {
	t := time.NewTicker(c.cfg.MetadataMaxAge)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.meta.Lock()
			n := len(c.meta.streams)
			c.meta.Unlock()
			if n > 0 {
				_ = c.refresh(chanCtx(c.stop), "")
			}
		}
	}
}

// onLeader runs call against the leader of a partition (any node when the
// leader is not known: a follower forwards a produce, and answers other
// requests with a leader hint). The attempt is bounded by timeout. On
// failure it records the leader hint, or refreshes the stream's metadata
// when the error says the routing is stale, so that the caller's retry
// goes to the right node.
func (c *Client) onLeader(ctx context.Context, stream string, part int32, timeout time.Duration,
	call func(context.Context, sluicev1.SluiceClient) error) error {
	addr := c.leaderAddr(stream, part)
	if addr == "" {
		addr = c.candidates()[0]
	}
	api, err := c.api(addr)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	err = fromRPC(ctx, addr, call(actx, api))
	cancel()
	if err != nil {
		if e := asError(err); e != nil && (e.conn || e.Code == CodeNoLeader || e.Code == CodeNotLeader && e.LeaderAddr == "") {
			c.demote(addr) // it may answer metadata with what it knew before
		}
		c.noteFailure(ctx, stream, part, err)
	}
	return err
}

// noteFailure updates the routing after a failed partition request.
func (c *Client) noteFailure(ctx context.Context, stream string, part int32, err error) {
	e := asError(err)
	if e == nil {
		return
	}
	if e.Code == CodeNotLeader && e.LeaderAddr != "" {
		c.setLeader(stream, part, e.LeaderID, e.LeaderAddr)
	}
	if needsRefresh(err) {
		_ = c.refresh(ctx, stream)
	}
}
