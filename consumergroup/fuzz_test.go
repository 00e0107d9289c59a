package consumergroup

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"testing"
)

// decodeInput turns fuzz bytes into an Assign input, reading zeros once
// the bytes run out: up to 4 streams s0..s3 (a byte of 250 or more gives a
// negative count), then up to 9 members. Each member has a byte for its id
// (unique, but 14 repeats the previous member's and 15 leaves it empty),
// one for its instance id (static when 0 mod 4, a repeat of the previous
// member's when 1 mod 8), a bit mask of streams s0..s5 (s4 and s5 never
// exist), and up to 7 Owned entries that may name a missing stream or a
// partition out of range.
func decodeInput(data []byte) ([]Member, map[string]int32) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	partitions := make(map[string]int32)
	for s := range int(next() % 5) {
		n := int32(next())
		if n >= 250 {
			n = 249 - n
		}
		partitions[fmt.Sprintf("s%d", s)] = n % 16
	}
	members := make([]Member, next()%10)
	for i := range members {
		m := &members[i]
		switch id := next() % 16; {
		case id == 14 && i > 0:
			m.ID = members[i-1].ID
		case id < 14:
			m.ID = fmt.Sprintf("m%03d", int(id)*10+i) // the byte sets the order
		}
		switch inst := next(); {
		case inst%8 == 1 && i > 0:
			m.InstanceID = members[i-1].InstanceID
		case inst%4 == 0:
			m.InstanceID = fmt.Sprintf("i%03d", int(inst/4)%16*10+i)
		}
		mask := next()
		for s := range 6 {
			if mask&(1<<s) != 0 {
				m.Streams = append(m.Streams, fmt.Sprintf("s%d", s))
			}
		}
		for range next() % 8 {
			stream := fmt.Sprintf("s%d", next()%6)
			m.Owned = append(m.Owned, tp(stream, int32(int8(next()))%20))
		}
	}
	return members, partitions
}

// expectedError is Assign's validation, written apart from it: the first
// negative partition count, else the first invalid member.
func expectedError(members []Member, partitions map[string]int32) error {
	for _, n := range partitions {
		if n < 0 {
			return ErrInvalidPartitionCount
		}
	}
	ids, instances := map[string]bool{}, map[string]bool{}
	for _, m := range members {
		switch {
		case m.ID == "":
			return ErrEmptyMemberID
		case ids[m.ID]:
			return ErrDuplicateMemberID
		case m.InstanceID != "" && instances[m.InstanceID]:
			return ErrDuplicateInstanceID
		}
		ids[m.ID], instances[m.InstanceID] = true, true
	}
	return nil
}

// FuzzAssign decodes members and partitions from the fuzz bytes and checks,
// for every strategy: the typed error for invalid input; otherwise a valid
// assignment, the same for shuffled input, with the documented balance; for
// cooperative-sticky its stickiness guarantees; and the two-round protocol.
func FuzzAssign(f *testing.F) {
	f.Add([]byte{})
	// Two streams of 3, two dynamic members subscribed to both (Kafka's
	// example).
	f.Add([]byte{2, 3, 3, 2, 0, 2, 3, 0, 1, 2, 3, 0})
	// Three streams, static and dynamic members with differing
	// subscriptions, owning partitions, with a stale claim (s0/1), claims
	// of an unsubscribed stream, an out-of-range partition, a missing
	// stream, and a duplicate.
	f.Add([]byte{3, 5, 9, 2, 4,
		1, 0, 0b0011, 3, 0, 1, 0, 2, 1, 1,
		2, 4, 0b0110, 4, 1, 0, 0, 1, 2, 7, 5, 0,
		3, 2, 0b0100, 2, 2, 1, 2, 1,
		4, 6, 0b100111, 1, 0, 1,
	})
	// A duplicate member id, a duplicate instance id, an empty member id,
	// and a negative partition count.
	f.Add([]byte{1, 4, 2, 0, 2, 1, 0, 14, 2, 1, 0})
	f.Add([]byte{1, 4, 2, 0, 4, 1, 0, 1, 1, 1, 0})
	f.Add([]byte{1, 4, 1, 15, 2, 1, 0})
	f.Add([]byte{2, 3, 251, 1, 0, 2, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		members, partitions := decodeInput(data)
		want := expectedError(members, partitions)
		h := fnv.New64a()
		h.Write(data)
		r := rand.New(rand.NewPCG(h.Sum64(), 0))
		for _, a := range allAssignors() {
			out, err := a.Assign(members, partitions)
			if want != nil || err != nil {
				if !errors.Is(err, want) || !isAssignError(err) || out != nil {
					t.Fatalf("%s: Assign = %v, %v; want error %v", a.Name(), out, err, want)
				}
				continue
			}
			checkValid(t, members, partitions, out)
			if again := mustAssign(t, a, shuffled(r, members), partitions); !reflect.DeepEqual(out, again) {
				t.Fatalf("%s: shuffled input changed the result:\n%s---\n%s", a.Name(), format(out), format(again))
			}
			checkBalance(t, a, members, partitions, out)
			if a.Cooperative() {
				checkSticky(t, members, partitions)
			}
			checkRounds(t, members, out)
		}
	})
}
