package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// fakeMember plays a GroupConsumer: each Poll runs the next step; after
// the last one Poll waits for its context.
type fakeMember struct {
	steps      []func(ctx context.Context) ([]client.Record, error)
	commits    []map[client.StreamPartition]int64
	commitErrs []error // the result of each commit in turn (nil when out)
}

func (f *fakeMember) Poll(ctx context.Context) ([]client.Record, error) {
	if len(f.steps) == 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	step := f.steps[0]
	f.steps = f.steps[1:]
	return step(ctx)
}

func (f *fakeMember) CommitOffsets(_ context.Context, offsets map[client.StreamPartition]int64) error {
	f.commits = append(f.commits, maps.Clone(offsets))
	if len(f.commitErrs) == 0 {
		return nil
	}
	err := f.commitErrs[0]
	f.commitErrs = f.commitErrs[1:]
	return err
}

// recs returns records "s" p/offset for each "p/offset".
func recs(pos ...string) []client.Record {
	var out []client.Record
	for _, po := range pos {
		var p int32
		var off int64
		fmt.Sscanf(po, "%d/%d", &p, &off)
		out = append(out, client.Record{Stream: "s", Partition: p, Offset: off, Value: []byte(po)})
	}
	return out
}

func batch(pos ...string) func(context.Context) ([]client.Record, error) {
	return func(context.Context) ([]client.Record, error) { return recs(pos...), nil }
}

func sp(p int32) client.StreamPartition { return client.StreamPartition{Stream: "s", Partition: p} }

// commitsText renders commits as "0:3 1:1 | 1:2".
func commitsText(commits []map[client.StreamPartition]int64) string {
	var out []string
	for _, c := range commits {
		var parts []string
		for _, k := range slices.SortedFunc(maps.Keys(c), func(a, b client.StreamPartition) int {
			return int(a.Partition - b.Partition)
		}) {
			parts = append(parts, fmt.Sprintf("%d:%d", k.Partition, c[k]))
		}
		out = append(out, strings.Join(parts, " "))
	}
	return strings.Join(out, " | ")
}

// TestGroupRunCommits drives groupRun's loop with a fake member: what is
// printed is committed after each batch, exactly up to --max, before a
// revocation, never after a loss; membership errors of a commit only warn.
func TestGroupRunCommits(t *testing.T) {
	errFatal := errors.New("disk on fire")
	for _, tc := range []struct {
		name        string
		max         int
		idle        time.Duration
		cancelAfter bool // cancel the run's context once the steps are done
		steps       func(r *groupRun, cancel context.CancelFunc) []func(context.Context) ([]client.Record, error)
		commitErrs  []error
		wantErr     error
		wantOut     string // the values printed
		wantCommits string // by loop, then the exit commit
		wantWarn    string
	}{
		{
			name: "max mid-batch", max: 4,
			steps: func(*groupRun, context.CancelFunc) []func(context.Context) ([]client.Record, error) {
				return []func(context.Context) ([]client.Record, error){batch("0/0", "1/0", "0/1", "0/2", "1/1", "0/3")}
			},
			wantOut: "0/0 1/0 0/1 0/2", wantCommits: "0:3 1:1",
		},
		{
			name: "max over batches", max: 3,
			steps: func(*groupRun, context.CancelFunc) []func(context.Context) ([]client.Record, error) {
				return []func(context.Context) ([]client.Record, error){batch("0/7", "1/0"), batch("1/1", "1/2")}
			},
			wantOut: "0/7 1/0 1/1", wantCommits: "0:8 1:1 | 1:2",
		},
		{
			name: "only moved partitions", cancelAfter: true,
			steps: func(_ *groupRun, cancel context.CancelFunc) []func(context.Context) ([]client.Record, error) {
				return []func(context.Context) ([]client.Record, error){batch("0/0", "1/0"), batch("1/1"),
					func(ctx context.Context) ([]client.Record, error) { cancel(); return nil, ctx.Err() }}
			},
			wantErr: context.Canceled, wantOut: "0/0 1/0 1/1", wantCommits: "0:1 1:1 | 1:2",
		},
		{
			name: "records with an error",
			steps: func(*groupRun, context.CancelFunc) []func(context.Context) ([]client.Record, error) {
				return []func(context.Context) ([]client.Record, error){
					func(context.Context) ([]client.Record, error) { return recs("2/4"), errFatal }}
			},
			wantErr: errFatal, wantOut: "2/4", wantCommits: "2:5",
		},
		{
			name: "revoked after a failed commit", cancelAfter: true,
			commitErrs: []error{&client.Error{Code: client.CodeStaleGeneration}},
			steps: func(r *groupRun, cancel context.CancelFunc) []func(context.Context) ([]client.Record, error) {
				return []func(context.Context) ([]client.Record, error){batch("0/0", "1/0"),
					func(ctx context.Context) ([]client.Record, error) {
						r.onRevoked(ctx, []client.StreamPartition{sp(0)})
						return recs("1/1"), nil
					},
					func(ctx context.Context) ([]client.Record, error) { cancel(); return nil, ctx.Err() }}
			},
			wantErr: context.Canceled, wantOut: "0/0 1/0 1/1", wantCommits: "0:1 1:1 | 0:1 | 1:2",
			wantWarn: "sluice: warning: stale generation (records may be read again)\n",
		},
		{
			name: "lost after a failed commit", cancelAfter: true,
			commitErrs: []error{&client.Error{Code: client.CodeUnknownMember}},
			steps: func(r *groupRun, cancel context.CancelFunc) []func(context.Context) ([]client.Record, error) {
				return []func(context.Context) ([]client.Record, error){batch("0/0", "1/0"),
					func(ctx context.Context) ([]client.Record, error) {
						r.onLost(ctx, []client.StreamPartition{sp(0), sp(1)})
						r.onAssigned(ctx, []client.StreamPartition{sp(1)})
						return recs("1/0"), nil
					},
					func(ctx context.Context) ([]client.Record, error) { cancel(); return nil, ctx.Err() }}
			},
			wantErr: context.Canceled, wantOut: "0/0 1/0 1/0", wantCommits: "0:1 1:1 | 1:1",
			wantWarn: "sluice: warning: unknown member (removed from the group) (records may be read again)\n" +
				"sluice: warning: lost stream \"s\" partition 0 before committing offset 1 (records may be read again)\n" +
				"sluice: warning: lost stream \"s\" partition 1 before committing offset 1 (records may be read again)\n",
		},
		{
			name:       "commit fails",
			commitErrs: []error{errFatal},
			steps: func(*groupRun, context.CancelFunc) []func(context.Context) ([]client.Record, error) {
				return []func(context.Context) ([]client.Record, error){batch("0/0")}
			},
			wantErr: errFatal, wantOut: "0/0", wantCommits: "0:1 | 0:1",
		},
		{
			name: "idle", idle: 50 * time.Millisecond,
			steps: func(r *groupRun, _ context.CancelFunc) []func(context.Context) ([]client.Record, error) {
				return []func(context.Context) ([]client.Record, error){batch("0/0"),
					func(ctx context.Context) ([]client.Record, error) {
						<-ctx.Done() // the idle deadline
						r.onAssigned(ctx, []client.StreamPartition{sp(1)})
						return nil, ctx.Err()
					},
					batch("1/0")}
			},
			wantOut: "0/0 1/0", wantCommits: "0:1 | 1:1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, warn bytes.Buffer
			f := &fakeMember{commitErrs: tc.commitErrs}
			r := &groupRun{g: f, stderr: &warn, timeout: time.Minute, max: tc.max, idle: tc.idle, active: time.Now(),
				printed: map[client.StreamPartition]int64{}, committed: map[client.StreamPartition]int64{}}
			f.steps = tc.steps(r, cancel)
			w := bufio.NewWriter(&out)
			err := r.loop(ctx, w, true)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("loop: %v, want %v", err, tc.wantErr)
			}
			if err := r.commit(ctx, nil); err != nil {
				t.Fatalf("exit commit: %v", err)
			}
			var values []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var j struct{ Value string }
				if err := json.Unmarshal([]byte(line), &j); err != nil {
					t.Fatalf("output line %q: %v", line, err)
				}
				values = append(values, j.Value)
			}
			if got := strings.Join(values, " "); got != tc.wantOut {
				t.Errorf("printed %q, want %q", got, tc.wantOut)
			}
			if got := commitsText(f.commits); got != tc.wantCommits {
				t.Errorf("commits %q, want %q", got, tc.wantCommits)
			}
			if warn.String() != tc.wantWarn {
				t.Errorf("warnings %q, want %q", warn.String(), tc.wantWarn)
			}
		})
	}
}
