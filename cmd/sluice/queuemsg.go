package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/client"
)

// sendChunk bounds the messages of one SendMessages call of queue send.
const sendChunk = 500

func queueSendCommand() *cli.Command {
	return &cli.Command{
		Name:  "send",
		Usage: "send messages to a queue: VALUE, or one per line of standard input",
		Description: "A message is a record produced to the queue's stream (every queue viewing that stream\n" +
			"gets it). --delay sets the sluice-delay-ms header: the message is delivered after it.",
		ArgsUsage: "QUEUE [VALUE]",
		Flags: clientFlags(
			&cli.StringFlag{Name: "key", Aliases: []string{"k"}, Usage: "the `key` of every message (routes it; orders it in a FIFO queue)"},
			&cli.DurationFlag{Name: "delay", Usage: "deliver the messages after `D` (at most 15m; default: the queue's delay)"},
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "add a header `name=value` to every message (repeatable)"},
			&cli.BoolFlag{Name: "verbose", Usage: "print the partition and offset of every message"},
		),
		Action: queueSend,
	}
}

// sendOptions are queue send's flags, checked.
type sendOptions struct {
	queue   string
	value   *string
	key     []byte
	opts    []client.SendOption
	verbose bool
	json    bool
}

func parseSendOptions(c *cli.Context) (sendOptions, error) {
	o := sendOptions{queue: c.Args().First()}
	switch {
	case c.NArg() == 0:
		return o, usagef("%s: missing argument QUEUE", commandPath(c))
	case c.NArg() > 2:
		return o, usagef("%s: unexpected argument %q", commandPath(c), c.Args().Get(2))
	case c.NArg() == 2:
		v := c.Args().Get(1)
		o.value = &v
	}
	out, err := outputFormat(c)
	if err != nil {
		return o, err
	}
	o.json, o.verbose = out == "json", c.Bool("verbose")
	if c.IsSet("key") {
		o.key = []byte(c.String("key"))
	}
	if c.IsSet("delay") {
		d := c.Duration("delay")
		if d < 0 || d > client.MaxMessageDelay {
			return o, usagef("--delay %v: want 0 to %v", d, client.MaxMessageDelay)
		}
		o.opts = append(o.opts, client.WithDelay(d))
	}
	var hs []client.Header
	for _, h := range c.StringSlice("header") {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return o, usagef("--header %q: want name=value", h)
		}
		hs = append(hs, client.Header{Key: k, Value: []byte(v)})
	}
	if len(hs) > 0 {
		o.opts = append(o.opts, client.WithHeaders(hs...))
	}
	return o, nil
}

func queueSend(c *cli.Context) error {
	o, err := parseSendOptions(c)
	if err != nil {
		return err
	}
	e := envOf(c)
	ctx, timeout := c.Context, c.Duration("timeout")
	cctx, cancel := context.WithTimeout(ctx, timeout)
	cl, err := connect(cctx, c)
	cancel()
	if err != nil {
		return interrupted(ctx, err)
	}
	defer cl.Close()
	out := bufio.NewWriter(e.stdout)
	sent := 0
	send := func(msgs []client.Message) error {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		res, err := cl.SendMessages(sctx, o.queue, msgs, o.opts...)
		if err != nil {
			return queueAdminError("queue", o.queue, err)
		}
		for _, r := range res {
			sent++
			switch {
			case o.json:
				_ = writeJSON(out, map[string]int64{"message": int64(sent), "partition": int64(r.Partition), "offset": r.Offset})
			case o.verbose:
				fmt.Fprintf(out, "partition %d offset %d\n", r.Partition, r.Offset)
			}
		}
		return out.Flush()
	}
	if o.value != nil {
		err = send([]client.Message{{Key: o.key, Value: []byte(*o.value)}})
	} else {
		if isTerminal(e.stdin) {
			fmt.Fprintln(e.stderr, "sluice queue send: reading messages from standard input, one per line; Ctrl-D ends")
		}
		err = o.feed(ctx, e.stdin, send)
	}
	if !o.json && (err == nil || sent > 0) {
		fmt.Fprintf(out, "sent %s to queue %s\n", plural(sent, "message"), o.queue)
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return interrupted(ctx, err)
}

// feed sends the lines of in, in chunks: a chunk goes when it is full or
// when no more input is buffered (so that typed lines go at once).
func (o *sendOptions) feed(ctx context.Context, in io.Reader, send func([]client.Message) error) error {
	r := bufio.NewReaderSize(in, 256<<10)
	var chunk []client.Message
	for lineNo := 1; ctx.Err() == nil; lineNo++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading standard input at line %d: %w", lineNo, err)
		}
		chunk = append(chunk, client.Message{Key: o.key, Value: line})
		if len(chunk) == sendChunk || r.Buffered() == 0 {
			if err := send(chunk); err != nil {
				return err
			}
			chunk = nil
		}
	}
	if len(chunk) > 0 && ctx.Err() == nil {
		return send(chunk)
	}
	return ctx.Err()
}

func queueReceiveCommand(arg string) *cli.Command {
	return &cli.Command{
		Name:  "receive",
		Usage: "receive messages, printing each with its receipt token",
		Description: "Each message is printed with receipt=PARTITION:RECEIPT and its receive count (-o json:\n" +
			"one object per message, with receipt and receive_count). The messages stay invisible for the\n" +
			"visibility timeout: ack them (sluice queue ack QUEUE TOKEN...), or use --ack to ack them once\n" +
			"printed. With nothing to receive it waits up to --wait for a message, then prints nothing.",
		ArgsUsage: arg,
		Flags: clientFlags(
			&cli.IntFlag{Name: "max", Aliases: []string{"n"}, Value: 10, Usage: "receive at most `N` messages (1 to 1000)"},
			&cli.DurationFlag{Name: "wait", Usage: "wait up to `D` for a message when there is none (at most 20s)"},
			&cli.BoolFlag{Name: "ack", Usage: "ack the messages once printed"},
		),
		Action: func(c *cli.Context) error { return queueReceive(c, arg) },
	}
}

func queueReceive(c *cli.Context, arg string) error {
	if err := checkArgs(c, arg); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	max, wait := c.Int("max"), c.Duration("wait")
	if max < 1 || max > client.MaxReceiveMessages {
		return usagef("--max %d: want 1 to %d", max, client.MaxReceiveMessages)
	}
	if wait < 0 || wait > client.MaxReceiveWait {
		return usagef("--wait %v: want 0 to %v", wait, client.MaxReceiveWait)
	}
	name, kind := c.Args().First(), strings.ToLower(arg)
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout")+wait)
	defer cancel()
	cl, err := connect(ctx, c)
	if err != nil {
		return interrupted(c.Context, err)
	}
	defer cl.Close()
	msgs, err := cl.Receive(ctx, name, max, wait)
	if err != nil {
		return interrupted(c.Context, queueAdminError(kind, name, err))
	}
	w := bufio.NewWriter(envOf(c).stdout)
	for i := range msgs {
		if err := writeQueueMessage(w, &msgs[i], out == "json"); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if c.Bool("ack") && len(msgs) > 0 {
		actx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), c.Duration("timeout"))
		defer cancel()
		if err := cl.Ack(actx, msgs...); err != nil {
			return fmt.Errorf("%s printed, not all acked: %w", plural(len(msgs), "message"), err)
		}
	}
	return nil
}

// receiptToken is how the commands print and take a receipt: its
// partition, a colon, and the receipt.
func receiptToken(m *client.QueueMessage) string {
	return strconv.Itoa(int(m.Partition)) + ":" + m.Receipt
}

// parseReceiptToken turns a token (optionally "receipt=" and the token,
// as text output prints it) back into a message of queue.
func parseReceiptToken(queue, tok string) (client.QueueMessage, error) {
	s := strings.TrimPrefix(tok, "receipt=")
	p, r, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(p, 10, 32)
	if !ok || err != nil || n < 0 || r == "" {
		return client.QueueMessage{}, usagef("receipt %q: want PARTITION:RECEIPT, as queue receive prints it", tok)
	}
	return client.QueueMessage{Queue: queue, Partition: int32(n), Offset: -1, Receipt: r}, nil
}

// writeQueueMessage prints a received message: for people, the receipt
// token and receive count, then the record as consume prints it; or one
// line of JSON.
func writeQueueMessage(w *bufio.Writer, m *client.QueueMessage, jsonOut bool) error {
	rec := client.Record{Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp, Key: m.Key, Value: m.Value,
		Headers: m.Headers}
	if !jsonOut {
		fmt.Fprintf(w, "receipt=%s receives=%d ", logfmtValue([]byte(receiptToken(m))), m.ReceiveCount)
		return writeRecordText(w, &rec)
	}
	j := queueMessageJSON{Queue: m.Queue, Receipt: receiptToken(m), ReceiveCount: m.ReceiveCount,
		recordJSON: recordJSON{Partition: &rec.Partition, Offset: &rec.Offset,
			Timestamp: rec.Timestamp.UTC().Format(time.RFC3339Nano), Headers: map[string]string{}}}
	j.Key, j.KeyBase64 = textOrBase64(m.Key)
	j.Value, j.ValueBase64 = textOrBase64(m.Value)
	if j.Value == nil && j.ValueBase64 == nil {
		empty := ""
		j.Value = &empty
	}
	for _, h := range m.Headers {
		j.Headers[h.Key] = string(h.Value)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, _ = w.Write(b)
	return w.WriteByte('\n')
}

// queueMessageJSON is a received message as -o json prints it: the
// fields of a consumed record, and the queue's.
type queueMessageJSON struct {
	Queue        string `json:"queue"`
	Receipt      string `json:"receipt"`
	ReceiveCount int    `json:"receive_count"`
	recordJSON
}

// settleAction runs queue ack, nack or extend.
func settleAction(op string) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() == 0 {
			return usagef("%s: missing argument QUEUE", commandPath(c))
		}
		out, err := outputFormat(c)
		if err != nil {
			return err
		}
		var d time.Duration
		switch op {
		case "nack":
			if d = c.Duration("delay"); d < 0 || d > client.MaxMessageDelay {
				return usagef("--delay %v: want 0 to %v", d, client.MaxMessageDelay)
			}
		case "extend":
			if !c.IsSet("visibility") {
				return usagef("%s: --visibility is required", commandPath(c))
			}
			if d = c.Duration("visibility"); d < 0 || d > maxVisibility {
				return usagef("--visibility %v: want 0 to %v", d, maxVisibility)
			}
		}
		queue := c.Args().First()
		tokens := c.Args().Tail()
		if len(tokens) == 0 {
			if tokens, err = readTokens(envOf(c).stdin); err != nil {
				return err
			}
		}
		if len(tokens) == 0 {
			return usagef("%s: no receipts given (as arguments or on standard input)", commandPath(c))
		}
		msgs := make([]client.QueueMessage, 0, len(tokens))
		for _, tok := range tokens {
			m, err := parseReceiptToken(queue, tok)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		return adminCall(c, func(ctx context.Context, cl *client.Client) error {
			var err error
			switch op {
			case "ack":
				err = cl.Ack(ctx, msgs...)
			case "nack":
				err = cl.Nack(ctx, d, msgs...)
			default:
				err = cl.ExtendVisibility(ctx, d, msgs...)
			}
			failed := failedCount(err, len(msgs))
			w := envOf(c).stdout
			if out == "json" {
				_ = writeJSON(w, map[string]int{op + "ed": len(msgs) - failed, "failed": failed})
			} else if failed < len(msgs) || err == nil {
				fmt.Fprintf(w, "%sed %s\n", op, plural(len(msgs)-failed, "message"))
			}
			if err != nil {
				return queueAdminError("queue", queue, err)
			}
			return nil
		})
	}
}

// failedCount returns how many of n messages an Ack, Nack or
// ExtendVisibility error says failed: one per *client.MessageError it
// wraps, else all.
func failedCount(err error, n int) int {
	if err == nil {
		return 0
	}
	var me *client.MessageError
	if u, ok := err.(interface{ Unwrap() []error }); ok && errors.As(err, &me) {
		return len(u.Unwrap())
	}
	return n
}

// readTokens reads whitespace-separated receipt tokens from r (as the
// receipt field of queue receive -o json, piped through jq -r, gives).
func readTokens(r io.Reader) ([]string, error) {
	if r == nil || isTerminal(r) {
		return nil, nil
	}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	s.Split(bufio.ScanWords)
	var out []string
	for s.Scan() {
		out = append(out, s.Text())
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading receipts from standard input: %w", err)
	}
	return out, nil
}
