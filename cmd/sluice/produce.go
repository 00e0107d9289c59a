package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/metadata"
)

func produceCommand() *cli.Command {
	return &cli.Command{
		Name:  "produce",
		Usage: "write records to a stream: one per line of standard input, or --value",
		Description: "Text input: each line is a record's value (--key-separator splits a key off the line).\n" +
			"JSON input (--format json): one object per line,\n" +
			`  {"key": "k", "value": "v", "headers": {"h": "x"}, "partition": 2, "timestamp": "RFC 3339"}` + "\n" +
			"(all optional; key_base64/value_base64 for binary). Records are batched and sent\n" +
			"asynchronously; the offsets are printed per record on a terminal, with --verbose or\n" +
			"with -o json, and a count at the end.",
		ArgsUsage: "STREAM",
		Flags: clientFlags(
			&cli.StringFlag{Name: "key", Aliases: []string{"k"}, Usage: "the `key` of every record (routes it to a partition)"},
			&cli.StringFlag{Name: "value", Usage: "produce one record with this `value` instead of reading standard input"},
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "add a header `name=value` to every record (repeatable)"},
			&cli.IntFlag{Name: "partition", Value: client.AnyPartition, Usage: "write to this partition (default: by key)"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "text", Usage: "input `format`: text or json"},
			&cli.StringFlag{Name: "key-separator", Usage: "text input: the part of a line before the first `SEP` is its key"},
			&cli.StringFlag{Name: "compression", Value: "none", Usage: "batch compression: none, gzip, snappy, lz4 or zstd"},
			&cli.BoolFlag{Name: "verbose", Usage: "print the partition and offset of every record"},
		),
		Action: produce,
	}
}

// produceOptions are produce's flags, checked.
type produceOptions struct {
	stream      string
	key         []byte
	hasKey      bool
	value       *string
	headers     []client.Header
	partition   int32
	json        bool
	keySep      string
	compression client.Compression
	perRecord   bool
	jsonOut     bool
}

func parseProduceOptions(c *cli.Context) (produceOptions, error) {
	o := produceOptions{stream: c.Args().First(), keySep: c.String("key-separator")}
	if err := checkArgs(c, "STREAM"); err != nil {
		return o, err
	}
	out, err := outputFormat(c)
	if err != nil {
		return o, err
	}
	o.jsonOut = out == "json"
	if c.IsSet("key") {
		o.key, o.hasKey = []byte(c.String("key")), true
	}
	if c.IsSet("value") {
		v := c.String("value")
		o.value = &v
	}
	for _, h := range c.StringSlice("header") {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return o, usagef("--header %q: want name=value", h)
		}
		o.headers = append(o.headers, client.Header{Key: k, Value: []byte(v)})
	}
	// Checked before it narrows to int32: 1<<32 is not partition 0.
	if p := c.Int("partition"); p != client.AnyPartition && (p < 0 || p >= metadata.MaxPartitions) {
		return o, usagef("--partition %d: want a partition number (0 to %d)", p, metadata.MaxPartitions-1)
	}
	o.partition = int32(c.Int("partition"))
	switch f := c.String("format"); f {
	case "text":
	case "json":
		o.json = true
		if o.value != nil {
			return o, usagef("--format json reads standard input: it does not go with --value")
		}
	default:
		return o, usagef("--format %q: want text or json", f)
	}
	if o.keySep != "" && (o.json || o.hasKey) {
		return o, usagef("--key-separator goes with text input and no --key")
	}
	codecs := map[string]client.Compression{"none": client.CompressionNone, "gzip": client.CompressionGzip,
		"snappy": client.CompressionSnappy, "lz4": client.CompressionLZ4, "zstd": client.CompressionZstd}
	var ok bool
	if o.compression, ok = codecs[c.String("compression")]; !ok {
		return o, usagef("--compression %q: want none, gzip, snappy, lz4 or zstd", c.String("compression"))
	}
	o.perRecord = c.Bool("verbose") || o.jsonOut || isTerminal(envOf(c).stdout)
	return o, nil
}

// record builds the record of one input line.
func (o *produceOptions) record(line []byte) (client.Record, error) {
	rec := client.Record{Stream: o.stream, Partition: o.partition, Value: line}
	if o.hasKey {
		rec.Key = o.key
	}
	switch {
	case o.json:
		if err := decodeRecordJSON(line, &rec); err != nil {
			return rec, err
		}
	case o.keySep != "":
		if k, v, ok := strings.Cut(string(line), o.keySep); ok {
			rec.Key, rec.Value = []byte(k), []byte(v)
		}
	}
	if len(o.headers) > 0 {
		rec.Headers = append(rec.Headers, o.headers...)
	}
	return rec, nil
}

// produceRun holds the state shared by the input loop and the producer's
// callbacks.
type produceRun struct {
	out    *bufio.Writer
	outMu  sync.Mutex
	json   bool
	print  bool
	ok     atomic.Int64
	failed atomic.Bool
	errMu  sync.Mutex
	errAt  int64 // the input line of the first failure
	err    error
}

func (r *produceRun) fail(line int64, err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err == nil || line < r.errAt {
		r.errAt, r.err = line, err
	}
	r.failed.Store(true)
}

func (r *produceRun) result(line int64) func(client.RecordResult, error) {
	return func(res client.RecordResult, err error) {
		if err != nil {
			r.fail(line, err)
			return
		}
		r.ok.Add(1)
		if !r.print {
			return
		}
		r.outMu.Lock()
		defer r.outMu.Unlock()
		if r.json {
			_ = writeJSON(r.out, map[string]int64{"record": line, "partition": int64(res.Partition), "offset": res.Offset})
		} else {
			fmt.Fprintf(r.out, "partition %d offset %d\n", res.Partition, res.Offset)
		}
	}
}

func produce(c *cli.Context) error {
	o, err := parseProduceOptions(c)
	if err != nil {
		return err
	}
	e := envOf(c)
	ctx := c.Context
	start := time.Now()
	connectCtx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
	cl, err := connect(connectCtx, c)
	cancel()
	if err != nil {
		return interrupted(ctx, err)
	}
	defer cl.Close()
	p, err := cl.NewProducer(client.ProducerConfig{Compression: o.compression, DeliveryTimeout: c.Duration("timeout")})
	if err != nil {
		return err
	}
	run := &produceRun{out: bufio.NewWriterSize(e.stdout, 64<<10), json: o.jsonOut, print: o.perRecord}
	if o.value == nil && isTerminal(e.stdin) {
		fmt.Fprintln(e.stderr, "sluice produce: reading records from standard input, one per line; Ctrl-D ends")
	}
	n, inputErr := o.feed(ctx, p, run, e.stdin)
	// Flush what was accepted even after Ctrl-C, within --timeout.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.Duration("timeout"))
	defer cancel()
	if err := p.Close(flushCtx); err != nil {
		// What was left failed with ErrClosed: the timeout is the cause.
		run.errMu.Lock()
		if run.err == nil || errors.Is(run.err, client.ErrClosed) {
			run.errAt, run.err = n, fmt.Errorf("records not acknowledged within --timeout %s: %w",
				c.Duration("timeout"), client.ErrDeliveryTimeout)
		}
		run.errMu.Unlock()
	}
	run.outMu.Lock()
	if !o.jsonOut {
		if run.err != nil || inputErr != nil {
			fmt.Fprintf(run.out, "produced %d of %s to %s\n", run.ok.Load(), plural(n, "record"), o.stream)
		} else {
			fmt.Fprintf(run.out, "produced %s to %s in %s\n", plural(run.ok.Load(), "record"), o.stream,
				time.Since(start).Round(time.Millisecond))
		}
	}
	flushErr := run.out.Flush()
	run.outMu.Unlock()
	switch {
	case ctx.Err() != nil:
		return errInterrupted
	case run.err != nil && n == 1:
		return run.err
	case run.err != nil:
		return fmt.Errorf("%w (input record %d)", run.err, run.errAt)
	case inputErr != nil:
		return inputErr
	}
	return flushErr
}

// feed produces the records of the input and returns how many it handed
// to the producer. It stops at the first failure (of input or of a
// record), or when ctx ends.
func (o *produceOptions) feed(ctx context.Context, p *client.Producer, run *produceRun, stdin io.Reader) (int64, error) {
	if o.value != nil {
		rec, _ := o.record([]byte(*o.value))
		p.Produce(ctx, rec, run.result(1))
		return 1, nil
	}
	in := bufio.NewReaderSize(stdin, 256<<10)
	var n, lineNo int64
	for ctx.Err() == nil && !run.failed.Load() {
		line, err := readLine(in)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		lineNo++
		if err != nil {
			return n, fmt.Errorf("reading standard input at line %d: %w", lineNo, err)
		}
		if o.json && len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		rec, err := o.record(line)
		if err != nil {
			return n, fmt.Errorf("standard input line %d: %w", lineNo, err)
		}
		n++
		p.Produce(ctx, rec, run.result(n))
	}
	return n, nil
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
