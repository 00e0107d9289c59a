package history

import (
	"errors"
	"testing"
)

func TestValue(t *testing.T) {
	v := NewValue("p-3", 17)
	if v != "p-3-17" {
		t.Fatalf("NewValue = %q", v)
	}
	if p, seq, ok := v.Split(); !ok || p != "p-3" || seq != 17 {
		t.Fatalf("Split = %q %d %v", p, seq, ok)
	}
	for _, bad := range []Value{"", "p3", "p3-", "p3-x", "0xff"} {
		if _, _, ok := bad.Split(); ok {
			t.Errorf("Split(%q) ok", bad)
		}
	}
	if got := ValueOf([]byte("p1-2")); got != "p1-2" {
		t.Errorf("ValueOf text = %q", got)
	}
	if got := ValueOf([]byte{0xff, 0x00}); got != "0xff00" {
		t.Errorf("ValueOf binary = %q", got)
	}
	if got := ValueOf([]byte("0x12")); got != "0x30783132" {
		t.Errorf("ValueOf 0x-text = %q (must not pass for hex of other bytes)", got)
	}
}

func TestValidateGood(t *testing.T) {
	ops := everyKind()
	for i := range ops {
		if err := ops[i].Validate(); err != nil {
			t.Errorf("%s: %v", ops[i].Kind, err)
		}
	}
	if err := ValidateHistory(ops); err != nil {
		t.Fatal(err)
	}
}

// TestValidateBad breaks one rule per case, starting from a good op of
// the kind.
func TestValidateBad(t *testing.T) {
	byKind := map[Kind]Op{}
	for _, op := range everyKind() {
		if _, ok := byKind[op.Kind]; !ok {
			byKind[op.Kind] = op
		}
	}
	// clone returns a deep enough copy of the good op of kind k.
	clone := func(k Kind) Op {
		op := byKind[k]
		switch {
		case op.Produce != nil:
			p := *op.Produce
			if p.Result != nil {
				r := *p.Result
				p.Result = &r
			}
			op.Produce = &p
		case op.Fetch != nil:
			f := *op.Fetch
			r := *f.Result
			f.Result = &r
			op.Fetch = &f
		case op.Receive != nil:
			r := *op.Receive
			op.Receive = &r
		case op.Deliver != nil:
			d := *op.Deliver
			op.Deliver = &d
		case op.DeadLetter != nil:
			d := *op.DeadLetter
			op.DeadLetter = &d
		case op.Stream != nil:
			s := *op.Stream
			op.Stream = &s
		case op.Fault != nil:
			f := *op.Fault
			op.Fault = &f
		case op.Commit != nil:
			c := *op.Commit
			c.Offsets = append([]Offset(nil), c.Offsets...)
			op.Commit = &c
		}
		return op
	}
	cases := []struct {
		name  string
		kind  Kind
		edit  func(*Op)
		field string
	}{
		{"negative id", KindProduce, func(o *Op) { o.ID = -1 }, "id"},
		{"unknown kind", KindProduce, func(o *Op) { o.Kind = "append" }, "kind"},
		{"unknown outcome", KindProduce, func(o *Op) { o.Outcome = "maybe" }, "outcome"},
		{"negative invoke", KindProduce, func(o *Op) { o.Invoke = -5 }, "invoke"},
		{"complete before invoke", KindProduce, func(o *Op) { o.Complete = o.Invoke - 1 }, "complete"},
		{"no payload", KindProduce, func(o *Op) { o.Produce = nil }, ""},
		{"two payloads", KindProduce, func(o *Op) { o.Fault = &Fault{Action: FaultKill} }, ""},
		{"wrong payload", KindFetch, func(o *Op) { o.Kind = KindDeliver }, "fetch"},
		{"produce without stream", KindProduce, func(o *Op) { o.Produce.Stream = "" }, "produce.stream"},
		{"produce with queue", KindProduce, func(o *Op) { o.Produce.Queue = "q" }, "produce.queue"},
		{"send without queue", KindSend, func(o *Op) { o.Produce.Queue = "" }, "produce.queue"},
		{"produce without value", KindProduce, func(o *Op) { o.Produce.Value = "" }, "produce.value"},
		{"ok produce without result", KindProduce, func(o *Op) { o.Produce.Result = nil }, "produce.result"},
		{"failed produce with result", KindProduce, func(o *Op) { o.Outcome = Failed }, "produce.result"},
		{"result in another partition", KindProduce, func(o *Op) { o.Produce.Result.Partition = 0 }, "produce.result.partition"},
		{"partition -2", KindProduce, func(o *Op) { o.Produce.Partition = -2 }, "produce.partition"},
		{"negative seq", KindProduce, func(o *Op) { o.Produce.Seq = -1 }, "produce.seq"},
		{"fetch negative from", KindFetch, func(o *Op) { o.Fetch.From = -1 }, "fetch.from"},
		{"fetch hwm below log start", KindFetch, func(o *Op) { o.Fetch.Result.LogStart = 5 }, "fetch.result"},
		{"fetch negative record offset", KindFetch, func(o *Op) {
			o.Fetch.Result.Records = []Record{{-1, "x"}}
		}, "fetch.result.records"},
		{"failed fetch with result", KindFetch, func(o *Op) { o.Outcome = Unknown }, "fetch.result"},
		{"failed delivery", KindDeliver, func(o *Op) { o.Outcome = Failed }, "outcome"},
		{"delivery without member", KindDeliver, func(o *Op) { o.Deliver.Member = "" }, "deliver.group"},
		{"commit negative offset", KindCommit, func(o *Op) { o.Commit.Offsets[0].Offset = -1 }, "commit.offsets"},
		{"commit without member", KindCommit, func(o *Op) { o.Commit.Member = "" }, "commit.member"},
		{"failed receive with message", KindReceive, func(o *Op) { o.Outcome = Failed }, "receive"},
		{"receive without receipt", KindReceive, func(o *Op) { o.Receive.Receipt = "" }, "receive.receipt"},
		{"receive count 0", KindReceive, func(o *Op) { o.Receive.ReceiveCount = 0 }, "receive.receive_count"},
		{"dead letter without source", KindDeadLetter, func(o *Op) { o.DeadLetter.Source = Location{} }, "dead_letter.source"},
		{"stream of 0 partitions", KindCreateStream, func(o *Op) { o.Stream.Partitions = 0 }, "stream.partitions"},
		{"unknown fault", KindFault, func(o *Op) { o.Fault.Action = "explode" }, "fault.action"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := clone(c.kind)
			c.edit(&op)
			err := op.Validate()
			var ie *InvalidOpError
			if !errors.Is(err, ErrBadValue) || !errors.As(err, &ie) {
				t.Fatalf("Validate = %v, want an *InvalidOpError matching ErrBadValue", err)
			}
			if ie.Field != c.field {
				t.Errorf("field %q, want %q (%v)", ie.Field, c.field, err)
			}
		})
	}
}

func TestValidateHistoryDuplicates(t *testing.T) {
	ops := everyKind()
	dupID := append(ops[:len(ops):len(ops)], ops[0])
	if err := ValidateHistory(dupID); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("duplicate id: %v", err)
	}
	again := ops[2] // the produce
	again.ID = 99
	if err := ValidateHistory(append(ops[:len(ops):len(ops)], again)); !errors.Is(err, ErrDuplicateValue) {
		t.Errorf("duplicate value: %v", err)
	}
}
