package partition

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/sluicedb/sluice/batch"
)

// producerWindow is how many recent batches per producer are remembered
// for deduplication: a producer keeps at most this many batches in flight
// (Kafka's max.in.flight.requests.per.connection with idempotence).
const producerWindow = 5

// ProducerExpiry is how long, by the leader's clock carried in commands, a
// producer's sequence state is kept after its last batch (Kafka
// producer.id.expiration.ms).
const ProducerExpiry = 24 * 60 * 60 * 1000 // ms

// batchMeta remembers one appended idempotent batch.
type batchMeta struct {
	firstSeq, lastSeq int32
	baseOffset        int64
}

// producerState is what the partition knows of one idempotent producer.
type producerState struct {
	epoch    int16
	lastSeen int64       // leader Unix ms of its last batch
	recent   []batchMeta // oldest first; at most producerWindow
}

// producers is the deduplication table. It is state machine state: only
// the apply goroutine touches it, and it is checkpointed and snapshotted.
type producers map[int64]*producerState

// nextSeq returns the sequence after seq, wrapping past MaxInt32 to 0 as
// Kafka does.
func nextSeq(seq int32, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// check decides what to do with an idempotent batch h: append it (nil),
// answer a retry of a batch already appended (dup with its base offset), or
// refuse it (ErrOutOfOrderSequence, ErrProducerFenced). Batches without a
// producer id are always appended.
func (p producers) check(h batch.Header) (dupBase int64, dup bool, err error) {
	if h.ProducerID < 0 {
		return 0, false, nil
	}
	st := p[h.ProducerID]
	switch {
	case st == nil || h.ProducerEpoch > st.epoch:
		// A new producer, or a new epoch of one: sequences start at 0.
		if h.BaseSequence != 0 {
			return 0, false, &SequenceError{ProducerID: h.ProducerID, Epoch: h.ProducerEpoch, Got: h.BaseSequence, Want: 0}
		}
		return 0, false, nil
	case h.ProducerEpoch < st.epoch:
		return 0, false, fmt.Errorf("%w: producer %d epoch %d, current epoch %d", ErrProducerFenced, h.ProducerID, h.ProducerEpoch, st.epoch)
	}
	last := nextSeq(h.BaseSequence, h.LastOffsetDelta)
	for _, b := range st.recent {
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return b.baseOffset, true, nil
		}
	}
	if want := nextSeq(st.recent[len(st.recent)-1].lastSeq, 1); h.BaseSequence != want {
		return 0, false, &SequenceError{ProducerID: h.ProducerID, Epoch: h.ProducerEpoch, Got: h.BaseSequence, Want: want}
	}
	return 0, false, nil
}

// record remembers an appended batch (h with its base offset stamped).
func (p producers) record(h batch.Header, now int64) {
	if h.ProducerID < 0 {
		return
	}
	st := p[h.ProducerID]
	if st == nil || h.ProducerEpoch != st.epoch {
		st = &producerState{epoch: h.ProducerEpoch}
		p[h.ProducerID] = st
	}
	st.lastSeen = now
	if len(st.recent) == producerWindow {
		st.recent = slices.Delete(st.recent, 0, 1)
	}
	st.recent = append(st.recent, batchMeta{
		firstSeq:   h.BaseSequence,
		lastSeq:    nextSeq(h.BaseSequence, h.LastOffsetDelta),
		baseOffset: h.BaseOffset,
	})
}

// expireBefore drops producers last seen before t. The state machine's
// clock only grows, and check treats such producers as unknown anyway, so
// dropping them changes no decision.
func (p producers) expireBefore(t int64) {
	for id, st := range p {
		if st.lastSeen < t {
			delete(p, id)
		}
	}
}

// Encoding of the table, in checkpoints and snapshots. On-disk format;
// never change:
//
//	count u32, then per producer (ascending id):
//	id i64, epoch i16, lastSeen i64, n u8 (<= producerWindow),
//	n × (firstSeq i32, lastSeq i32, baseOffset i64)
const producerFixed = 8 + 2 + 8 + 1
const batchMetaSize = 4 + 4 + 8

func (p producers) appendTo(dst []byte) []byte {
	ids := make([]int64, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(len(ids)))
	for _, id := range ids {
		st := p[id]
		dst = be.AppendUint64(dst, uint64(id))
		dst = be.AppendUint16(dst, uint16(st.epoch))
		dst = be.AppendUint64(dst, uint64(st.lastSeen))
		dst = append(dst, byte(len(st.recent)))
		for _, b := range st.recent {
			dst = be.AppendUint32(dst, uint32(b.firstSeq))
			dst = be.AppendUint32(dst, uint32(b.lastSeq))
			dst = be.AppendUint64(dst, uint64(b.baseOffset))
		}
	}
	return dst
}

// decodeProducers decodes a table and returns the bytes after it.
func decodeProducers(b []byte) (producers, []byte, error) {
	be := binary.BigEndian
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: producer table of %d bytes", ErrCorrupt, len(b))
	}
	n := be.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b)/producerFixed) {
		return nil, nil, fmt.Errorf("%w: %d producers in %d bytes", ErrCorrupt, n, len(b))
	}
	p := make(producers, n)
	prev := int64(math.MinInt64)
	for i := uint32(0); i < n; i++ {
		if len(b) < producerFixed {
			return nil, nil, fmt.Errorf("%w: producer %d truncated", ErrCorrupt, i)
		}
		id := int64(be.Uint64(b))
		st := &producerState{epoch: int16(be.Uint16(b[8:])), lastSeen: int64(be.Uint64(b[10:]))}
		k := int(b[18])
		b = b[producerFixed:]
		if id < 0 || (i > 0 && id <= prev) || k == 0 || k > producerWindow || len(b) < k*batchMetaSize {
			return nil, nil, fmt.Errorf("%w: producer %d (id %d, %d batches)", ErrCorrupt, i, id, k)
		}
		prev = id
		st.recent = make([]batchMeta, k)
		for j := range st.recent {
			st.recent[j] = batchMeta{
				firstSeq:   int32(be.Uint32(b)),
				lastSeq:    int32(be.Uint32(b[4:])),
				baseOffset: int64(be.Uint64(b[8:])),
			}
			b = b[batchMetaSize:]
		}
		p[id] = st
	}
	return p, b, nil
}
