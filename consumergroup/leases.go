package consumergroup

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Leases are the in-memory half of a queue in one partition, kept by the
// partition's leader: which pending messages are received and invisible
// until when (the visibility timeout), under which receipt, and which are
// held back until a time (a nack with a delay). A failover loses them, so
// the new leader redelivers what was in flight: at-least-once.
//
// The replicated half is the AckState (done offsets, receive counts).
// Leases never decide that a message is done; they only hide pending
// messages for a while.
//
// Leases is not safe for concurrent use; the queue's owner locks it.
type Leases struct {
	epoch  uint64 // identifies this leader's table in receipts
	leases map[int64]*Lease
	// hidden holds offsets a nack delayed, until when.
	hidden map[int64]time.Time
}

// Lease is a received message's lease.
type Lease struct {
	Offset  int64
	Nonce   uint64    // a receipt names the lease by it
	Expires time.Time // the message is visible again then
	Key     []byte    // FIFO: the message's key (it blocks later ones)
}

// Errors of receipts.
var (
	// ErrInvalidReceipt reports a receipt that does not decode, names
	// another queue or partition, or no lease this leader holds: the
	// lease expired (the message may have been received again), was
	// acknowledged, or was given by an earlier leader.
	ErrInvalidReceipt = errors.New("consumergroup: invalid or expired receipt")
)

// NewLeases returns an empty table. epoch identifies the table (the raft
// term of the leadership that keeps it), so that receipts of an earlier
// leader are refused.
func NewLeases(epoch uint64) *Leases {
	return &Leases{epoch: epoch, leases: map[int64]*Lease{}, hidden: map[int64]time.Time{}}
}

// Visible reports whether offset may be received at now: not leased, or
// its lease expired, and not held back by a nack.
func (l *Leases) Visible(offset int64, now time.Time) bool {
	if ls, ok := l.leases[offset]; ok && now.Before(ls.Expires) {
		return false
	}
	if until, ok := l.hidden[offset]; ok && now.Before(until) {
		return false
	}
	return true
}

// Leased returns the live lease of offset.
func (l *Leases) Leased(offset int64, now time.Time) (*Lease, bool) {
	ls, ok := l.leases[offset]
	if !ok || !now.Before(ls.Expires) {
		return nil, false
	}
	return ls, true
}

// Lease leases offset until now+visibility with a new nonce, replacing an
// expired lease, and returns it.
func (l *Leases) Lease(offset int64, key []byte, now time.Time, visibility time.Duration) *Lease {
	var b [8]byte
	_, _ = rand.Read(b[:])
	ls := &Lease{Offset: offset, Nonce: binary.BigEndian.Uint64(b[:]), Expires: now.Add(visibility), Key: key}
	l.leases[offset] = ls
	delete(l.hidden, offset)
	return ls
}

// Find returns the live lease a receipt names.
func (l *Leases) Find(r Receipt, now time.Time) (*Lease, error) {
	ls, ok := l.leases[r.Offset]
	switch {
	case r.Epoch != l.epoch:
		return nil, fmt.Errorf("%w: from an earlier leader of the partition", ErrInvalidReceipt)
	case !ok || ls.Nonce != r.Nonce:
		return nil, fmt.Errorf("%w: offset %d has no such lease", ErrInvalidReceipt, r.Offset)
	case !now.Before(ls.Expires):
		return nil, fmt.Errorf("%w: the lease of offset %d expired at %s", ErrInvalidReceipt, r.Offset, ls.Expires.UTC().Format(time.RFC3339Nano))
	}
	return ls, nil
}

// Release drops offset's lease (it was acknowledged, or is done).
func (l *Leases) Release(offset int64) {
	delete(l.leases, offset)
	delete(l.hidden, offset)
}

// Nack ends a lease early: the message is visible again at now+delay.
func (l *Leases) Nack(ls *Lease, now time.Time, delay time.Duration) {
	delete(l.leases, ls.Offset)
	if delay > 0 {
		l.hidden[ls.Offset] = now.Add(delay)
	}
}

// Extend sets a lease to expire at now+visibility (0: at once, as SQS's
// ChangeMessageVisibility with 0).
func (l *Leases) Extend(ls *Lease, now time.Time, visibility time.Duration) {
	ls.Expires = now.Add(visibility)
}

// InFlight returns the number of live leases at now.
func (l *Leases) InFlight(now time.Time) int {
	n := 0
	for _, ls := range l.leases {
		if now.Before(ls.Expires) {
			n++
		}
	}
	return n
}

// Forget drops the leases and holds of offsets below floor (done) and the
// expired leases, bounding the table.
func (l *Leases) Forget(floor int64, now time.Time) {
	for off, ls := range l.leases {
		if off < floor || !now.Before(ls.Expires) {
			delete(l.leases, off)
		}
	}
	for off, until := range l.hidden {
		if off < floor || !now.Before(until) {
			delete(l.hidden, off)
		}
	}
}

// Receipt names a lease: the queue and partition, the leader's epoch, the
// offset and the lease's nonce. Clients treat it as opaque text.
type Receipt struct {
	Queue     string
	Partition int32
	Epoch     uint64
	Offset    int64
	Nonce     uint64
}

// receiptVersion is the first byte of an encoded receipt.
const receiptVersion = 1

// String encodes r as URL-safe base64 text.
func (r Receipt) String() string {
	b := []byte{receiptVersion}
	b = binary.BigEndian.AppendUint32(b, uint32(r.Partition))
	b = binary.BigEndian.AppendUint64(b, r.Epoch)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Offset))
	b = binary.BigEndian.AppendUint64(b, r.Nonce)
	b = append(b, r.Queue...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseReceipt decodes a receipt; anything else is ErrInvalidReceipt.
func ParseReceipt(s string) (Receipt, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 29 || b[0] != receiptVersion || len(b) > 29+MaxGroupNameLen {
		return Receipt{}, fmt.Errorf("%w: %q is not a receipt", ErrInvalidReceipt, truncate(s, 64))
	}
	r := Receipt{
		Partition: int32(binary.BigEndian.Uint32(b[1:])),
		Epoch:     binary.BigEndian.Uint64(b[5:]),
		Offset:    int64(binary.BigEndian.Uint64(b[13:])),
		Nonce:     binary.BigEndian.Uint64(b[21:]),
		Queue:     string(b[29:]),
	}
	if r.Partition < 0 || r.Offset < 0 || ValidGroupName(r.Queue) != nil {
		return Receipt{}, fmt.Errorf("%w: %q is not a receipt", ErrInvalidReceipt, truncate(s, 64))
	}
	return r, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
