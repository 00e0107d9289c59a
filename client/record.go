package client

import (
	"math/bits"
	"time"

	"github.com/sluicedb/sluice/batch"
)

// AnyPartition in Record.Partition lets the producer choose: by the MD5
// hash key of the record's key, or, for a record without a key (nil Key),
// a partition that stays the same for a batch and then moves on.
const AnyPartition = -1

// Record is one record of a stream.
//
// Producing: Stream, Key, Value, Headers and Timestamp are sent, and
// Partition chooses the partition: AnyPartition (-1) by key, or an
// explicit partition number. Note that the zero value of Partition is
// partition 0: use NewRecord, or set Partition to AnyPartition, to route
// by key. Offset is ignored. The producer keeps referring to Key, Value
// and Headers until the record's result is delivered; do not modify them
// before that.
//
// Consuming: every field is set; Key, Value and header values are owned by
// the record (nothing else refers to them).
type Record struct {
	Stream    string
	Partition int32
	Offset    int64
	// Timestamp is the record's create time, kept to the millisecond. Zero
	// when producing means now.
	Timestamp time.Time
	// Key routes the record (see Partition). nil is no key; an empty
	// non-nil key is a key and hashes like any other.
	Key     []byte
	Value   []byte
	Headers []Header
}

// NewRecord returns a record for stream that the producer routes by key.
func NewRecord(stream string, key, value []byte) Record {
	return Record{Stream: stream, Partition: AnyPartition, Key: key, Value: value}
}

// Header is an application header of a record. A nil Value is distinct
// from an empty one.
type Header struct {
	Key   string
	Value []byte
}

// RecordResult is where a produced record was written.
type RecordResult struct {
	Stream    string
	Partition int32
	Offset    int64
	// Timestamp is the timestamp the record was sent with.
	Timestamp time.Time
}

// toBatch converts a record to the batch package's form. It aliases r's
// byte slices.
func toBatch(r *Record) batch.Record {
	br := batch.Record{Timestamp: r.Timestamp.UnixMilli(), Key: r.Key, Value: r.Value}
	if len(r.Headers) > 0 {
		br.Headers = make([]batch.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			br.Headers[i] = batch.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	return br
}

// fromBatch converts a decoded record. It aliases br's byte slices.
func fromBatch(stream string, part int32, br *batch.Record) Record {
	r := Record{Stream: stream, Partition: part, Offset: br.Offset,
		Timestamp: time.UnixMilli(br.Timestamp), Key: br.Key, Value: br.Value}
	if len(br.Headers) > 0 {
		r.Headers = make([]Header, len(br.Headers))
		for i, h := range br.Headers {
			r.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return r
}

// varintLen returns the size of v as a zigzag varint (Kafka's varint and
// varlong share the encoding).
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return max(1, (bits.Len64(u)+6)/7)
}

// bytesFieldLen returns the size of a length-prefixed byte field; nil
// has length -1.
func bytesFieldLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

// recordSize returns the encoded size of r inside a batch, taking its
// timestamp and offset deltas as 0. The true size differs by a few bytes
// at most (larger deltas take longer varints); it is used for the record
// size limit and for buffer and batch accounting.
func recordSize(r *Record) int {
	body := 1 + 1 + 1 + bytesFieldLen(r.Key) + bytesFieldLen(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		body += varintLen(int64(len(h.Key))) + len(h.Key) + bytesFieldLen(h.Value)
	}
	return varintLen(int64(body)) + body
}
