package partition

import (
	"encoding/binary"
	"fmt"
)

// Commands are what the partition's raft group replicates. On-wire and
// on-disk format (they live in the raft log); never change:
//
//	0  1  version = 1
//	1  1  type: 1 produce, 2 advance log start
//	produce:           2  8  leader wall clock, Unix ms (for LogAppendTime; informational)
//	                  10  …  one RecordBatch v2, as the producer sent it
//	advance log start: 2  8  new log start offset
const (
	commandVersion = 1

	cmdProduce         = 1
	cmdAdvanceLogStart = 2

	commandHeaderSize = 2
)

type command struct {
	typ       byte
	timestamp int64  // produce
	batch     []byte // produce; aliases the encoded command
	offset    int64  // advance log start
}

func encodeProduce(dst []byte, timestamp int64, b []byte) []byte {
	dst = append(dst, commandVersion, cmdProduce)
	dst = binary.BigEndian.AppendUint64(dst, uint64(timestamp))
	return append(dst, b...)
}

func encodeAdvanceLogStart(offset int64) []byte {
	b := []byte{commandVersion, cmdAdvanceLogStart}
	return binary.BigEndian.AppendUint64(b, uint64(offset))
}

// decodeCommand decodes b. The produce batch aliases b and is not
// validated here.
func decodeCommand(b []byte) (command, error) {
	if len(b) < commandHeaderSize {
		return command{}, fmt.Errorf("%w: command of %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != commandVersion {
		return command{}, fmt.Errorf("%w: command version %d", ErrCorrupt, b[0])
	}
	c := command{typ: b[1]}
	body := b[commandHeaderSize:]
	switch c.typ {
	case cmdProduce:
		if len(body) < 8 {
			return command{}, fmt.Errorf("%w: produce command of %d bytes", ErrCorrupt, len(b))
		}
		c.timestamp = int64(binary.BigEndian.Uint64(body))
		c.batch = body[8:]
	case cmdAdvanceLogStart:
		if len(body) != 8 {
			return command{}, fmt.Errorf("%w: advance-log-start command of %d bytes", ErrCorrupt, len(b))
		}
		c.offset = int64(binary.BigEndian.Uint64(body))
		if c.offset < 0 {
			return command{}, fmt.Errorf("%w: advance-log-start to %d", ErrCorrupt, c.offset)
		}
	default:
		return command{}, fmt.Errorf("%w: command type %d", ErrCorrupt, c.typ)
	}
	return c, nil
}
