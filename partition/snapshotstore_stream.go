package partition

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// The snapshot stream (format in snapshot.go) made from a manifest and the
// segments' files, without a goroutine: Persist writes it, and
// SnapshotStore.Open returns it for a snapshot it keeps as links.

// segmentRef is one segment of a snapshot: the first size bytes of the
// .log of the segment at base.
type segmentRef struct{ base, size int64 }

// snapshotManifest is everything a snapshot stream says except the segment
// bytes.
type snapshotManifest struct {
	// version is the stream's: snapshotVersion, or an older one for a
	// manifest stored before offset tables (1) or queue tables (2): it
	// makes the stream it made then, byte for byte.
	version  byte
	applied  uint64
	clock    int64
	logStart int64
	logEnd   int64
	prods    []byte // the producer table (producers.appendTo)
	offs     []byte // the offset table (offsetTable.appendTo); version 2 and up
	queues   []byte // the queue table (queueTable.appendTo); version 3 and up
	segs     []segmentRef
}

// headerSize is the length of the stream before the first segment.
func (m *snapshotManifest) headerSize() int64 {
	n := int64(len(snapshotMagic)+1+32+4+len(m.prods)) + 4
	if m.version >= snapshotVersionV2 {
		n += 4 + int64(len(m.offs))
	}
	if m.version >= snapshotVersion {
		n += 4 + int64(len(m.queues))
	}
	return n
}

// streamSize returns the exact length of the stream.
func (m *snapshotManifest) streamSize() int64 {
	n := m.headerSize() + 4
	for _, s := range m.segs {
		n += 16 + s.size
	}
	return n
}

// appendHeader appends the stream's bytes before the first segment.
func (m *snapshotManifest) appendHeader(b []byte) []byte {
	be := binary.BigEndian
	b = append(b, snapshotMagic...)
	b = append(b, m.version)
	b = be.AppendUint64(b, m.applied)
	b = be.AppendUint64(b, uint64(m.clock))
	b = be.AppendUint64(b, uint64(m.logStart))
	b = be.AppendUint64(b, uint64(m.logEnd))
	b = be.AppendUint32(b, uint32(len(m.prods)))
	b = append(b, m.prods...)
	if m.version >= snapshotVersionV2 {
		b = be.AppendUint32(b, uint32(len(m.offs)))
		b = append(b, m.offs...)
	}
	if m.version >= snapshotVersion {
		b = be.AppendUint32(b, uint32(len(m.queues)))
		b = append(b, m.queues...)
	}
	return be.AppendUint32(b, uint32(len(m.segs)))
}

func closeAll(rs []io.ReaderAt) {
	for _, r := range rs {
		if c, ok := r.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

// snapshotStream reads a snapshot stream from its manifest and the
// segments' files, without a goroutine: it feeds the CRC as the bytes go
// by and appends the trailer after the last segment.
type snapshotStream struct {
	parts   []io.Reader // the header, then each segment's header and bytes
	crc     hash.Hash32
	done    bool // parts are exhausted; trailer holds the CRC
	trailer []byte
}

// newSnapshotStream returns the stream of m whose segment i is read from
// src[i] (which must hold at least m.segs[i].size bytes).
func newSnapshotStream(m *snapshotManifest, src []io.ReaderAt) *snapshotStream {
	parts := make([]io.Reader, 0, 1+2*len(m.segs))
	parts = append(parts, bytes.NewReader(m.appendHeader(make([]byte, 0, m.headerSize()))))
	for i, seg := range m.segs {
		var sh []byte
		sh = binary.BigEndian.AppendUint64(sh, uint64(seg.base))
		sh = binary.BigEndian.AppendUint64(sh, uint64(seg.size))
		parts = append(parts, bytes.NewReader(sh),
			&segmentReader{base: seg.base, r: io.NewSectionReader(src[i], 0, seg.size), left: seg.size})
	}
	return &snapshotStream{parts: parts, crc: crc32.New(crcTable)}
}

func (s *snapshotStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(s.parts) > 0 {
		n, err := s.parts[0].Read(p)
		s.crc.Write(p[:n])
		if err == io.EOF {
			s.parts = s.parts[1:]
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	if !s.done {
		s.done = true
		s.trailer = binary.BigEndian.AppendUint32(nil, s.crc.Sum32())
	}
	if len(s.trailer) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.trailer)
	s.trailer = s.trailer[n:]
	return n, nil
}

// segmentReader reads exactly left bytes of one segment: a file that ends
// early is corrupt, not a short snapshot.
type segmentReader struct {
	base int64
	r    io.Reader
	left int64
}

func (s *segmentReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.left -= int64(n)
	switch {
	case err == io.EOF && s.left > 0:
		return n, fmt.Errorf("%w: snapshot segment %d: file ends %d bytes short", ErrCorrupt, s.base, s.left)
	case err != nil && err != io.EOF:
		return n, fmt.Errorf("partition: snapshot segment %d: %w", s.base, err)
	}
	return n, err
}
