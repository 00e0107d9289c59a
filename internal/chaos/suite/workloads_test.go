package suite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/chaos/history"
	"github.com/sluicedb/sluice/internal/chaos/proccluster"
	"github.com/sluicedb/sluice/queue"
)

// The queue and group workloads of TestChaos.

const (
	chaosGroup      = "chaos-group"
	chaosQueue      = "chaos-queue"
	chaosQueueParts = 2
	sendEvery       = 10 * time.Millisecond
	// chaosDead is chaosQueue's dead-letter stream; a message is moved
	// there at its receive after chaosMaxReceives.
	chaosDead        = "chaos-dead"
	chaosMaxReceives = 3
	// poisonEvery: every poisonEvery-th message a sender sends is one the
	// consumers never ack (they nack it at once), so that it is
	// dead-lettered.
	poisonEvery = 25
)

// groupMember consumes the chaos stream as a member of chaosGroup until
// stop is closed and it has delivered every record below final's high
// watermarks (set before stop closes), committing what it delivered after
// each poll and recording deliveries and commits.
func groupMember(t *testing.T, ctx context.Context, c *proccluster.Cluster, rec *history.Recorder, process int,
	stop <-chan struct{}, final *finalMarks) {
	cl, err := client.New(ctx, client.Config{Servers: c.ClientAddrs(), RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	g, err := cl.NewGroupConsumer(ctx, client.GroupConfig{Group: chaosGroup, Streams: []string{chaosStream},
		SessionTimeout: 6 * time.Second, LeaveOnClose: client.LeaveAlways})
	if err != nil {
		t.Error(err)
		return
	}
	defer g.Close()
	member := g.MemberID()
	now := rec.Now()
	rec.Append(history.Op{Process: process, Kind: history.KindJoin, Outcome: history.OK, Invoke: now, Complete: now,
		Join: &history.Join{Group: chaosGroup, Member: member, Streams: []string{chaosStream}}})
	pending := map[client.StreamPartition]int64{} // delivered, not committed yet
	for {
		select {
		case <-stop:
			if final.caughtUp() {
				return
			}
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		recs, _ := g.Poll(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		for _, r := range recs {
			now := rec.Now()
			rec.Append(history.Op{Process: process, Kind: history.KindDeliver, Outcome: history.OK, Invoke: now, Complete: now,
				Deliver: &history.Deliver{Group: chaosGroup, Member: member, Stream: r.Stream, Partition: r.Partition,
					Offset: r.Offset, Value: history.ValueOf(r.Value)}})
			pending[client.StreamPartition{Stream: r.Stream, Partition: r.Partition}] = r.Offset + 1
		}
		if len(pending) == 0 {
			continue
		}
		// Commit what was delivered (again, if an earlier commit failed).
		commit := &history.Commit{Group: chaosGroup, Member: member}
		for sp, off := range pending {
			commit.Offsets = append(commit.Offsets, history.Offset{Stream: sp.Stream, Partition: sp.Partition, Offset: off})
		}
		inv := rec.Now()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := g.CommitOffsets(cctx, pending)
		cancel()
		op := history.Op{Process: process, Kind: history.KindCommit, Outcome: history.OK, Invoke: inv, Complete: rec.Now(), Commit: commit}
		if err != nil {
			op.Outcome, op.Error = history.Unknown, err.Error()
			rec.Append(op)
			owned := g.Assignment()
			for sp := range pending {
				if !slices.Contains(owned, sp) {
					delete(pending, sp) // released: the next owner reads from the last commit
				}
			}
			continue
		}
		rec.Append(op)
		for sp, off := range pending {
			final.committed(sp.Partition, off)
		}
		clear(pending)
	}
}

// finalMarks tells group members when they are done: every partition
// delivered (by any member) up to its final high watermark.
type finalMarks struct {
	mu   sync.Mutex
	hw   map[int32]int64 // final high watermarks; nil until known
	done map[int32]int64 // the furthest position committed per partition
}

func newFinalMarks() *finalMarks { return &finalMarks{done: map[int32]int64{}} }

func (f *finalMarks) setHW(hw map[int32]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hw = hw
}

func (f *finalMarks) committed(part int32, next int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done[part] = max(f.done[part], next)
}

// caughtUp reports whether every partition was delivered and committed
// to its final high watermark.
func (f *finalMarks) caughtUp() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hw == nil {
		return false
	}
	for p, hw := range f.hw {
		if f.done[p] < hw {
			return false
		}
	}
	return true
}

// recordGroupOffsets reads the group's committed offsets back.
func recordGroupOffsets(t *testing.T, ctx context.Context, cl *client.Client, rec *history.Recorder) {
	inv := rec.Now()
	offs, err := cl.FetchGroupOffsets(ctx, chaosGroup, nil)
	if err != nil {
		t.Fatalf("group offsets: %v", err)
	}
	commit := &history.Commit{Group: chaosGroup}
	for _, o := range offs {
		if o.Err != nil {
			t.Fatalf("group offset of partition %d: %v", o.Partition, o.Err)
		}
		if o.Committed >= 0 {
			commit.Offsets = append(commit.Offsets, history.Offset{Stream: o.Stream, Partition: o.Partition, Offset: o.Committed})
		}
	}
	rec.Append(history.Op{Process: -1, Kind: history.KindOffsets, Outcome: history.OK, Invoke: inv, Complete: rec.Now(), Commit: commit})
}

// queueSender sends messages to chaosQueue until ctx ends.
func queueSender(t *testing.T, ctx context.Context, c *proccluster.Cluster, rec *history.Recorder, process int) {
	cl, err := client.New(ctx, client.Config{Servers: c.ClientAddrs(), RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	name := fmt.Sprintf("q%d", process)
	tick := time.NewTicker(sendEvery)
	defer tick.Stop()
	for seq := int64(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		value := history.NewValue(name, seq)
		inv := rec.Now()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		r, err := cl.SendMessage(sctx, chaosQueue, nil, []byte(value))
		cancel()
		op := history.Op{Process: process, Kind: history.KindSend, Invoke: inv, Complete: rec.Now(),
			Produce: &history.Produce{Stream: chaosQueue, Queue: chaosQueue, Partition: history.AnyPartition, Value: value,
				Producer: name, Seq: seq, Idempotent: true}}
		if err == nil {
			op.Outcome = history.OK
			op.Produce.Result = &history.Position{Partition: r.Partition, Offset: r.Offset}
		} else {
			op.Outcome, op.Error = history.Unknown, err.Error()
		}
		rec.Append(op)
	}
}

// queueConsumer receives and acks chaosQueue's messages until stop is
// closed and the queue has nothing pending.
func queueConsumer(t *testing.T, ctx context.Context, c *proccluster.Cluster, rec *history.Recorder, process int, stop <-chan struct{}) {
	cl, err := client.New(ctx, client.Config{Servers: c.ClientAddrs(), RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		select {
		case <-stop:
			if queueDrained(ctx, cl) {
				return
			}
		default:
		}
		inv := rec.Now()
		msgs, err := cl.Receive(ctx, chaosQueue, 50, 500*time.Millisecond)
		done := rec.Now()
		if err != nil && len(msgs) == 0 {
			continue // nothing was leased that the history needs
		}
		var poison []client.QueueMessage
		for _, m := range msgs {
			rec.Append(history.Op{Process: process, Kind: history.KindReceive, Outcome: history.OK, Invoke: inv, Complete: done,
				Receive: &history.Receive{Queue: chaosQueue, Partition: m.Partition, Offset: m.Offset, Receipt: m.Receipt,
					ReceiveCount: m.ReceiveCount, Value: history.ValueOf(m.Value)}})
			if isPoison(m.Value) {
				poison = append(poison, m)
			}
		}
		msgs = slices.DeleteFunc(msgs, func(m client.QueueMessage) bool { return isPoison(m.Value) })
		if len(poison) > 0 {
			// Visible again at once; a failed nack only waits out the
			// visibility timeout. Neither is an outcome the checker needs.
			nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_ = cl.Nack(nctx, 0, poison...)
			cancel()
		}
		if len(msgs) == 0 {
			continue
		}
		inv = rec.Now()
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = cl.Ack(actx, msgs...)
		cancel()
		failed, all := failedAcks(err)
		for _, m := range msgs {
			op := history.Op{Process: process, Kind: history.KindAck, Outcome: history.OK, Invoke: inv, Complete: rec.Now(),
				Ack: &history.Ack{Queue: chaosQueue, Partition: m.Partition, Offset: m.Offset, Receipt: m.Receipt}}
			if e, ok := failed[m.Receipt]; all || ok {
				if !ok {
					e = err
				}
				op.Outcome, op.Error = history.Unknown, e.Error()
			}
			rec.Append(op)
		}
	}
}

// isPoison reports whether a queue message is one the consumers never ack.
func isPoison(value []byte) bool {
	_, seq, ok := history.ValueOf(value).Split()
	return ok && seq%poisonEvery == poisonEvery-1
}

// readDeadLetters reads chaosDead whole and records every message in it as
// a dead_letter op, with the source its header names.
func readDeadLetters(t *testing.T, ctx context.Context, cl *client.Client, rec *history.Recorder) int {
	info, err := cl.DescribeStream(ctx, chaosDead)
	if err != nil {
		t.Fatal(err)
	}
	k, err := cl.NewConsumer(client.ConsumerConfig{MaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	n := 0
	for _, p := range info.Partitions {
		if p.HighWatermark == 0 {
			continue
		}
		if err := k.Assign(ctx, chaosDead, []int32{p.Partition}, client.Earliest()); err != nil {
			t.Fatal(err)
		}
		for next := int64(0); next < p.HighWatermark; {
			recs, err := k.Poll(ctx)
			if err != nil {
				t.Fatalf("read %s/%d at %d: %v", chaosDead, p.Partition, next, err)
			}
			for _, r := range recs {
				d := &history.DeadLetter{Queue: chaosQueue, Stream: chaosDead, Partition: r.Partition, Offset: r.Offset,
					Value: history.ValueOf(r.Value)}
				for _, h := range r.Headers {
					if h.Key == queue.DeadLetterSourceHeader {
						d.Source, err = parseLocation(string(h.Value))
						if err != nil {
							t.Fatalf("%s/%d at %d: %v", chaosDead, r.Partition, r.Offset, err)
						}
					}
				}
				now := rec.Now()
				rec.Append(history.Op{Process: -1, Kind: history.KindDeadLetter, Outcome: history.OK, Invoke: now, Complete: now,
					DeadLetter: d})
				next = r.Offset + 1
				n++
			}
		}
		k.Unassign(chaosDead, []int32{p.Partition})
	}
	return n
}

// parseLocation parses a dead-letter source header: STREAM/PARTITION/OFFSET.
func parseLocation(s string) (history.Location, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return history.Location{}, fmt.Errorf("dead-letter source %q: want STREAM/PARTITION/OFFSET", s)
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 32)
	o, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return history.Location{}, fmt.Errorf("dead-letter source %q: %w", s, err)
	}
	return history.Location{Stream: parts[0], Partition: int32(p), Offset: o}, nil
}

// failedAcks returns the messages an Ack error names, by receipt, or all
// when it does not name them (the whole call failed).
func failedAcks(err error) (failed map[string]error, all bool) {
	if err == nil {
		return nil, false
	}
	multi, ok := err.(interface{ Unwrap() []error })
	if !ok {
		var me *client.MessageError
		if errors.As(err, &me) {
			return map[string]error{me.Message.Receipt: me}, false
		}
		return nil, true
	}
	failed = map[string]error{}
	for _, e := range multi.Unwrap() {
		var me *client.MessageError
		if !errors.As(e, &me) {
			return nil, true
		}
		failed[me.Message.Receipt] = me
	}
	return failed, false
}

// queueDrained reports whether the queue has nothing pending.
func queueDrained(ctx context.Context, cl *client.Client) bool {
	info, err := cl.DescribeQueue(ctx, chaosQueue)
	if err != nil || len(info.Partitions) == 0 {
		return false
	}
	for _, p := range info.Partitions {
		if p.Pending != 0 {
			return false
		}
	}
	return true
}
