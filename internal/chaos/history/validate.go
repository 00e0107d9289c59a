package history

import "slices"

// Validate checks one operation against the format's rules and returns an
// *InvalidOpError (matching ErrBadValue) naming the first broken one. It
// checks the shape of the op only; whether the system behaved is the
// checker's business (records out of order are a valid history of a bad
// run).
func (op *Op) Validate() error {
	bad := func(field, reason string) error {
		return &InvalidOpError{ID: op.ID, Kind: op.Kind, Field: field, Reason: reason}
	}
	if op.ID < 0 {
		return bad("id", "negative")
	}
	if !slices.Contains(Kinds(), op.Kind) {
		return bad("kind", "unknown kind")
	}
	switch op.Outcome {
	case OK, Failed, Unknown:
	default:
		return bad("outcome", "unknown outcome")
	}
	if op.Invoke < 0 {
		return bad("invoke", "negative")
	}
	if op.Complete < op.Invoke {
		return bad("complete", "before invoke")
	}
	if field, n := op.payload(); n != 1 {
		return bad("", "an op carries exactly one payload")
	} else if field != payloadField(op.Kind) {
		return bad(field, "not the payload of kind "+string(op.Kind))
	}
	ok := op.Outcome == OK
	switch op.Kind {
	case KindProduce, KindSend:
		return op.Produce.validate(op.Kind == KindSend, ok, bad)
	case KindFetch:
		return op.Fetch.validate(ok, bad)
	case KindDeliver:
		d := op.Deliver
		switch {
		case !ok:
			return bad("outcome", "a delivery is an observation: ok only")
		case d.Group == "" || d.Member == "":
			return bad("deliver.group", "group and member are required")
		case d.Stream == "":
			return bad("deliver.stream", "required")
		case d.Partition < 0 || d.Offset < 0:
			return bad("deliver.offset", "negative partition or offset")
		}
	case KindCommit, KindOffsets:
		c := op.Commit
		if c.Group == "" {
			return bad("commit.group", "required")
		}
		if op.Kind == KindCommit && c.Member == "" {
			return bad("commit.member", "required")
		}
		for _, o := range c.Offsets {
			if o.Stream == "" || o.Partition < 0 || o.Offset < 0 {
				return bad("commit.offsets", "an offset needs a stream and no negative numbers")
			}
		}
	case KindJoin:
		j := op.Join
		if j.Group == "" || j.Member == "" {
			return bad("join.group", "group and member are required")
		}
		if slices.Contains(j.Streams, "") {
			return bad("join.streams", "empty stream name")
		}
	case KindReceive:
		return op.Receive.validate(ok, bad)
	case KindAck:
		a := op.Ack
		if a.Queue == "" {
			return bad("ack.queue", "required")
		}
		if a.Partition < 0 || a.Offset < 0 {
			return bad("ack.offset", "negative partition or offset")
		}
	case KindDeadLetter:
		d := op.DeadLetter
		switch {
		case !ok:
			return bad("outcome", "a dead letter is an observation: ok only")
		case d.Queue == "" || d.Stream == "":
			return bad("dead_letter.queue", "queue and stream are required")
		case d.Partition < 0 || d.Offset < 0:
			return bad("dead_letter.offset", "negative partition or offset")
		case d.Source.Stream == "" || d.Source.Partition < 0 || d.Source.Offset < 0:
			return bad("dead_letter.source", "needs a stream and no negative numbers")
		}
	case KindCreateStream:
		if op.Stream.Name == "" {
			return bad("stream.name", "required")
		}
		if op.Stream.Partitions < 1 {
			return bad("stream.partitions", "at least 1")
		}
	case KindCreateQueue:
		q := op.Queue
		if q.Name == "" || q.Stream == "" {
			return bad("queue.name", "name and stream are required")
		}
		if q.MaxReceives < 0 {
			return bad("queue.max_receives", "negative")
		}
	case KindFault:
		switch op.Fault.Action {
		case FaultKill, FaultStop, FaultCont, FaultRestart, FaultPartition, FaultHeal, FaultOther:
		default:
			return bad("fault.action", "unknown action")
		}
	}
	return nil
}

// payloadField returns the JSON field of kind's payload.
func payloadField(k Kind) string {
	switch k {
	case KindProduce, KindSend:
		return "produce"
	case KindCommit, KindOffsets:
		return "commit"
	case KindFetch:
		return "fetch"
	case KindDeliver:
		return "deliver"
	case KindJoin:
		return "join"
	case KindReceive:
		return "receive"
	case KindAck:
		return "ack"
	case KindDeadLetter:
		return "dead_letter"
	case KindCreateStream:
		return "stream"
	case KindCreateQueue:
		return "queue"
	case KindFault:
		return "fault"
	}
	return ""
}

// payload returns the JSON field of the op's last set payload and how many
// are set.
func (op *Op) payload() (field string, n int) {
	set := func(isSet bool, name string) {
		if isSet {
			field, n = name, n+1
		}
	}
	set(op.Produce != nil, "produce")
	set(op.Fetch != nil, "fetch")
	set(op.Deliver != nil, "deliver")
	set(op.Commit != nil, "commit")
	set(op.Join != nil, "join")
	set(op.Receive != nil, "receive")
	set(op.Ack != nil, "ack")
	set(op.DeadLetter != nil, "dead_letter")
	set(op.Stream != nil, "stream")
	set(op.Queue != nil, "queue")
	set(op.Fault != nil, "fault")
	return field, n
}

type badFunc func(field, reason string) error

func (p *Produce) validate(send, ok bool, bad badFunc) error {
	switch {
	case p.Stream == "":
		return bad("produce.stream", "required")
	case send && p.Queue == "":
		return bad("produce.queue", "a queue_send names its queue")
	case !send && p.Queue != "":
		return bad("produce.queue", "only a queue_send names a queue")
	case p.Partition < AnyPartition:
		return bad("produce.partition", "negative (AnyPartition is -1)")
	case p.Value == "":
		return bad("produce.value", "required")
	case p.Producer == "":
		return bad("produce.producer", "required")
	case p.Seq < 0:
		return bad("produce.seq", "negative")
	case ok != (p.Result != nil):
		return bad("produce.result", "set if and only if the outcome is ok")
	}
	if r := p.Result; r != nil {
		if r.Partition < 0 || r.Offset < 0 {
			return bad("produce.result", "negative partition or offset")
		}
		if p.Partition != AnyPartition && r.Partition != p.Partition {
			return bad("produce.result.partition", "not the partition asked for")
		}
	}
	return nil
}

func (f *Fetch) validate(ok bool, bad badFunc) error {
	switch {
	case f.Stream == "":
		return bad("fetch.stream", "required")
	case f.Partition < 0:
		return bad("fetch.partition", "negative")
	case f.From < 0:
		return bad("fetch.from", "negative")
	case ok != (f.Result != nil):
		return bad("fetch.result", "set if and only if the outcome is ok")
	}
	if r := f.Result; r != nil {
		if r.LogStart < 0 || r.HighWatermark < r.LogStart {
			return bad("fetch.result", "needs 0 <= log_start <= high_watermark")
		}
		for _, rec := range r.Records {
			if rec.Offset < 0 {
				return bad("fetch.result.records", "negative offset")
			}
		}
	}
	return nil
}

func (r *Receive) validate(ok bool, bad badFunc) error {
	if r.Queue == "" {
		return bad("receive.queue", "required")
	}
	if !ok {
		if *r != (Receive{Queue: r.Queue}) {
			return bad("receive", "a receive that was not ok names its queue only")
		}
		return nil
	}
	switch {
	case r.Partition < 0 || r.Offset < 0:
		return bad("receive.offset", "negative partition or offset")
	case r.Receipt == "":
		return bad("receive.receipt", "required")
	case r.ReceiveCount < 1:
		return bad("receive.receive_count", "at least 1")
	}
	return nil
}

// ValidateHistory checks every op (Op.Validate), that IDs are unique
// (ErrDuplicateID) and that no two produce or send ops carry the same
// value (ErrDuplicateValue). It returns the first error, an
// *InvalidOpError.
func ValidateHistory(ops []Op) error {
	ids := make(map[int64]struct{}, len(ops))
	values := make(map[Value]struct{})
	for i := range ops {
		op := &ops[i]
		if err := op.Validate(); err != nil {
			return err
		}
		if _, dup := ids[op.ID]; dup {
			return &InvalidOpError{ID: op.ID, Kind: op.Kind, Field: "id", Reason: "used twice", Err: ErrDuplicateID}
		}
		ids[op.ID] = struct{}{}
		if op.Produce != nil {
			if _, dup := values[op.Produce.Value]; dup {
				return &InvalidOpError{ID: op.ID, Kind: op.Kind, Field: "produce.value",
					Reason: "value " + string(op.Produce.Value) + " produced twice", Err: ErrDuplicateValue}
			}
			values[op.Produce.Value] = struct{}{}
		}
	}
	return nil
}
