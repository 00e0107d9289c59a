package checker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is the checker's verdict on a history.
type Report struct {
	// Violations in property order (Properties), then in a stable order
	// within each.
	Violations []Violation
	Stats      Stats
	// Linearizability has one entry per partition of the sample.
	Linearizability []LinResult
	// Seed is the Config.Seed the sample was drawn with.
	Seed int64
}

// OK reports whether the history kept every promise.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// Err returns the violations joined into one error (errors.As finds each
// type), or nil.
func (r *Report) Err() error {
	errs := make([]error, len(r.Violations))
	for i, v := range r.Violations {
		errs[i] = v
	}
	return errors.Join(errs...)
}

// Of returns the violations of property p.
func (r *Report) Of(p Property) []Violation {
	var out []Violation
	for _, v := range r.Violations {
		if v.Property() == p {
			out = append(out, v)
		}
	}
	return out
}

// Counts are ops by outcome.
type Counts struct {
	OK, Failed, Unknown int
}

func (c Counts) String() string {
	return fmt.Sprintf("ok %d, failed %d, unknown %d", c.OK, c.Failed, c.Unknown)
}

// Stats counts what the history holds.
type Stats struct {
	Ops    int
	Faults int
	// Produces counts produce ops; Sends queue_send ops.
	Produces, Sends Counts
	// UnknownLanded and UnknownMissing split the unknown produces and
	// sends: found in a final log, or not.
	UnknownLanded, UnknownMissing int
	// AgedOut counts ok writes below the final log start (retention), not
	// checked.
	AgedOut int
	// Fetches counts fetch ops; Partitions the partitions with a final
	// read; Records the records of the final logs.
	Fetches    Counts
	Partitions int
	Records    int64
	// AllowedDuplicates counts values written twice where that is allowed
	// (a producer that is not idempotent, a dead-letter stream).
	AllowedDuplicates int
	// Groups counts consumer groups, Deliveries their deliveries.
	Groups, Deliveries int
	Queue              QueueStats
}

// QueueStats counts queue traffic over every queue.
type QueueStats struct {
	// Receives counts messages returned by receives; Received the
	// distinct messages among them; Redelivered those received more than
	// once (at-least-once delivery allows it); MaxReceiveCount is the
	// highest receive count a receive reported.
	Receives, Received, Redelivered, MaxReceiveCount int
	// Acks counts ack ops; Acked the distinct messages acked.
	Acks  Counts
	Acked int
	// DeadLettered counts dead-letter observations.
	DeadLettered int
}

// LinResult is the linearizability check of one partition.
type LinResult struct {
	Stream    string
	Partition int32
	// Result is "ok", "illegal", "timeout" (porcupine ran out of time:
	// no verdict) or "skipped" (Reason says why).
	Result string
	Reason string
	// Ops were checked; Omitted were left out by Config.LinMaxOps.
	Ops, Omitted int
	Elapsed      time.Duration
}

// The results of LinResult.
const (
	LinOK      = "ok"
	LinIllegal = "illegal"
	LinTimeout = "timeout"
	LinSkipped = "skipped"
)

// maxPerProperty bounds the violations of one property WriteText lists.
const maxPerProperty = 20

// WriteText writes the report for people: verdict, counts, the
// linearizability sample, and the violations (at most 20 per property).
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if r.OK() {
		fmt.Fprintf(bw, "checker: ok (seed %d)\n", r.Seed)
	} else {
		fmt.Fprintf(bw, "checker: FAILED, %d violations (seed %d)\n", len(r.Violations), r.Seed)
		for _, p := range Properties() {
			if n := len(r.Of(p)); n > 0 {
				fmt.Fprintf(bw, "  %-16s %d\n", p, n)
			}
		}
	}
	s := r.Stats
	fmt.Fprintf(bw, "\nstats:\n  ops %d, faults %d\n", s.Ops, s.Faults)
	fmt.Fprintf(bw, "  produces: %v; sends: %v; unknown landed %d, not found %d\n", s.Produces, s.Sends,
		s.UnknownLanded, s.UnknownMissing)
	fmt.Fprintf(bw, "  fetches: %v; final logs: %d partitions, %d records; aged out %d; allowed duplicates %d\n",
		s.Fetches, s.Partitions, s.Records, s.AgedOut, s.AllowedDuplicates)
	fmt.Fprintf(bw, "  groups %d, deliveries %d\n", s.Groups, s.Deliveries)
	q := s.Queue
	fmt.Fprintf(bw, "  queues: receives %d (%d messages, %d redelivered, max receive count %d), acks: %v (%d messages), dead letters %d\n",
		q.Receives, q.Received, q.Redelivered, q.MaxReceiveCount, q.Acks, q.Acked, q.DeadLettered)
	if len(r.Linearizability) > 0 {
		fmt.Fprintf(bw, "\nlinearizability:\n")
		for _, l := range r.Linearizability {
			fmt.Fprintf(bw, "  %s/%d: %s, %d ops", l.Stream, l.Partition, l.Result, l.Ops)
			if l.Omitted > 0 {
				fmt.Fprintf(bw, " (%d omitted)", l.Omitted)
			}
			if l.Reason != "" {
				fmt.Fprintf(bw, ", %s", l.Reason)
			}
			fmt.Fprintf(bw, ", %v\n", l.Elapsed.Round(time.Millisecond))
		}
	}
	for _, p := range Properties() {
		vs := r.Of(p)
		if len(vs) == 0 {
			continue
		}
		fmt.Fprintf(bw, "\n%s:\n", p)
		for i, v := range vs {
			if i == maxPerProperty {
				fmt.Fprintf(bw, "  ... and %d more\n", len(vs)-i)
				break
			}
			fmt.Fprintf(bw, "  %s\n", v.Error())
		}
	}
	return bw.Flush()
}

// String returns WriteText's text.
func (r *Report) String() string {
	var b strings.Builder
	_ = r.WriteText(&b) // a strings.Builder does not fail
	return b.String()
}
