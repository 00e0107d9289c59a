package partition

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
	"github.com/sluicedb/sluice/log"
)

// The two small files of a SnapshotStore snapshot (layout in
// snapshotstore.go). On-disk formats; never change:
//
// meta, written last (its presence makes the snapshot complete):
//
//	magic "SLSM", version u8 = 1, kind u8 (1 linked, 2 stream)
//	raft snapshot version u32, index u64, term u64,
//	  configuration index u64, size i64 (the length Open streams)
//	stream CRC-32C u32 (of the stream file; 0 for kind linked)
//	server count u32, then per server: suffrage u8,
//	  id length u16, id, address length u16, address
//	CRC-32C (Castagnoli) u32 of every byte before it
//
// manifest (kind linked only): what the snapshot stream says apart from
// the segment bytes, which are the first size bytes of segments/<base>.log:
//
//	magic "SLMF", version u8 = 3 (the version of the stream it makes)
//	applied u64, clock i64, log start i64, log end i64
//	producer table: length u32, bytes (see producers.appendTo)
//	offset table: length u32, bytes (see offsetTable.appendTo)
//	queue table: length u32, bytes (see queueTable.appendTo)
//	segment count u32, then per segment: base offset i64, size i64
//	CRC-32C (Castagnoli) u32 of every byte before it
//
// Older versions still decode and make the stream of their version they
// made then (the meta's size is that stream's): version 1, written before
// committed offsets existed, has neither the offset table nor the queue
// table; version 2, written before queues existed, has no queue table.
// New manifests are version 3.
//
// The raft id is the directory's name, not stored. Peers, raft's legacy
// configuration encoding for version 0 snapshots, is not kept: the store
// takes version 1 only, whose readers use Configuration.
const (
	metaMagic         = "SLSM"
	metaVersion       = 1
	manifestMagic     = "SLMF"
	manifestVersion   = 3
	manifestVersionV2 = 2 // no queue table
	manifestVersionV1 = 1 // no offset table, no queue table

	kindLinked byte = 1
	kindStream byte = 2

	// maxMetaBytes bounds a meta file: 50 bytes of fields, then up to
	// 5+2*65535 bytes per server; far more than any real configuration.
	maxMetaBytes = 16 << 20
	// maxManifestBytes bounds a manifest file.
	maxManifestBytes = 64 + maxSnapshotProducers + 4 + maxSnapshotOffsets + 4 + maxSnapshotQueues + 16*maxSnapshotSegments
)

// storedMeta is a decoded meta file.
type storedMeta struct {
	kind      byte
	streamCRC uint32
	raft      raft.SnapshotMeta // ID is left empty
}

// encodeMeta encodes m. It fails on a configuration that does not fit the
// format (Create checks it first).
func encodeMeta(m *storedMeta) ([]byte, error) {
	be := binary.BigEndian
	b := append([]byte(metaMagic), metaVersion, m.kind)
	if m.raft.Version < 0 || int64(m.raft.Version) > math.MaxUint32 {
		return nil, fmt.Errorf("partition: snapshot version %d does not fit", m.raft.Version)
	}
	b = be.AppendUint32(b, uint32(m.raft.Version))
	b = be.AppendUint64(b, m.raft.Index)
	b = be.AppendUint64(b, m.raft.Term)
	b = be.AppendUint64(b, m.raft.ConfigurationIndex)
	b = be.AppendUint64(b, uint64(m.raft.Size))
	b = be.AppendUint32(b, m.streamCRC)
	b = be.AppendUint32(b, uint32(len(m.raft.Configuration.Servers)))
	for _, s := range m.raft.Configuration.Servers {
		if s.Suffrage < 0 || s.Suffrage > math.MaxUint8 || len(s.ID) > math.MaxUint16 || len(s.Address) > math.MaxUint16 {
			return nil, fmt.Errorf("partition: snapshot configuration server %q (suffrage %d, address of %d bytes) does not fit",
				s.ID, s.Suffrage, len(s.Address))
		}
		b = append(b, byte(s.Suffrage))
		b = be.AppendUint16(b, uint16(len(s.ID)))
		b = append(b, s.ID...)
		b = be.AppendUint16(b, uint16(len(s.Address)))
		b = append(b, s.Address...)
	}
	if len(b)+4 > maxMetaBytes {
		return nil, fmt.Errorf("partition: snapshot meta of %d bytes, limit %d", len(b)+4, maxMetaBytes)
	}
	return be.AppendUint32(b, crc32.Checksum(b, crcTable)), nil
}

// decoder reads big-endian fields, each bounded by the bytes left; after
// the first short read every field is zero and err says where.
type decoder struct {
	b    []byte
	what string
	err  error
}

func (d *decoder) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = fmt.Errorf("%w: %s: %s needs %d bytes, %d left", ErrCorrupt, d.what, field, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(field string) byte {
	if v := d.take(1, field); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16(field string) uint16 {
	if v := d.take(2, field); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32(field string) uint32 {
	if v := d.take(4, field); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64(field string) uint64 {
	if v := d.take(8, field); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// end returns the first error, or an error if bytes are left.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the last field", len(d.b))
	}
	return d.err
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", ErrCorrupt, d.what, fmt.Sprintf(format, args...))
	}
}

// checkFrame checks the magic, version (one of versions) and CRC trailer
// of b and returns a decoder of the bytes between them and the version.
func checkFrame(b []byte, what, magic string, versions ...byte) (*decoder, byte) {
	d := &decoder{what: what}
	if len(b) < len(magic)+1+4 {
		d.err = fmt.Errorf("%w: %s: %d bytes", ErrCorrupt, what, len(b))
		return d, 0
	}
	body, trailer := b[:len(b)-4], b[len(b)-4:]
	if got, want := binary.BigEndian.Uint32(trailer), crc32.Checksum(body, crcTable); got != want {
		d.err = fmt.Errorf("%w: %s: CRC %08x, computed %08x", ErrCorrupt, what, got, want)
		return d, 0
	}
	version := body[len(magic)]
	if string(body[:len(magic)]) != magic || !slices.Contains(versions, version) {
		d.err = fmt.Errorf("%w: %s: magic %q version %d", ErrCorrupt, what, body[:len(magic)], version)
		return d, 0
	}
	d.b = body[len(magic)+1:]
	return d, version
}

// decodeMeta decodes a meta file. Errors match ErrCorrupt.
func decodeMeta(b []byte) (storedMeta, error) {
	d, _ := checkFrame(b, "snapshot meta", metaMagic, metaVersion)
	var m storedMeta
	m.kind = d.u8("kind")
	m.raft.Version = raft.SnapshotVersion(d.u32("raft version"))
	m.raft.Index = d.u64("index")
	m.raft.Term = d.u64("term")
	m.raft.ConfigurationIndex = d.u64("configuration index")
	m.raft.Size = int64(d.u64("size"))
	m.streamCRC = d.u32("stream CRC")
	n := d.u32("server count")
	if d.err == nil && uint64(n)*5 > uint64(len(d.b)) {
		d.fail("%d servers in %d bytes", n, len(d.b))
	}
	if d.err == nil && n > 0 {
		m.raft.Configuration.Servers = make([]raft.Server, 0, n)
	}
	for i := uint32(0); i < n && d.err == nil; i++ {
		var s raft.Server
		s.Suffrage = raft.ServerSuffrage(d.u8("suffrage"))
		s.ID = raft.ServerID(d.take(int(d.u16("server id length")), "server id"))
		s.Address = raft.ServerAddress(d.take(int(d.u16("server address length")), "server address"))
		m.raft.Configuration.Servers = append(m.raft.Configuration.Servers, s)
	}
	switch {
	case d.err != nil:
	case len(d.b) != 0:
		d.fail("%d bytes after the last server", len(d.b))
	case m.kind != kindLinked && m.kind != kindStream:
		d.fail("kind %d", m.kind)
	case m.raft.Version < 1 || m.raft.Version > raft.SnapshotVersionMax:
		d.fail("raft snapshot version %d", m.raft.Version)
	case m.raft.Size < 0:
		d.fail("size %d", m.raft.Size)
	case m.kind == kindLinked && m.streamCRC != 0:
		d.fail("stream CRC %08x on a linked snapshot", m.streamCRC)
	}
	if d.err != nil {
		return storedMeta{}, d.err
	}
	return m, nil
}

// encodeManifest encodes m, in the manifest version of m.version (m.offs
// is dropped from a version 1 manifest and m.queues from versions 1 and
// 2, which decode only with none).
func encodeManifest(m *snapshotManifest) []byte {
	be := binary.BigEndian
	b := make([]byte, 0, 72+len(m.prods)+len(m.offs)+len(m.queues)+16*len(m.segs))
	b = append(b, manifestMagic...)
	b = append(b, m.version)
	b = be.AppendUint64(b, m.applied)
	b = be.AppendUint64(b, uint64(m.clock))
	b = be.AppendUint64(b, uint64(m.logStart))
	b = be.AppendUint64(b, uint64(m.logEnd))
	b = be.AppendUint32(b, uint32(len(m.prods)))
	b = append(b, m.prods...)
	if m.version >= manifestVersionV2 {
		b = be.AppendUint32(b, uint32(len(m.offs)))
		b = append(b, m.offs...)
	}
	if m.version >= manifestVersion {
		b = be.AppendUint32(b, uint32(len(m.queues)))
		b = append(b, m.queues...)
	}
	b = be.AppendUint32(b, uint32(len(m.segs)))
	for _, s := range m.segs {
		b = be.AppendUint64(b, uint64(s.base))
		b = be.AppendUint64(b, uint64(s.size))
	}
	return be.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// decodeManifest decodes a manifest file, checking what the snapshot
// stream's reader (readSnapshot) would check of the same fields. Errors
// match ErrCorrupt.
func decodeManifest(b []byte) (snapshotManifest, error) {
	d, version := checkFrame(b, "snapshot manifest", manifestMagic, manifestVersion, manifestVersionV2, manifestVersionV1)
	m := snapshotManifest{version: version}
	m.applied = d.u64("applied")
	m.clock = int64(d.u64("clock"))
	m.logStart = int64(d.u64("log start"))
	m.logEnd = int64(d.u64("log end"))
	np := d.u32("producer table length")
	if d.err == nil && np > maxSnapshotProducers {
		d.fail("producer table of %d bytes", np)
	}
	m.prods = d.take(int(np), "producer table")
	if version >= manifestVersionV2 {
		no := d.u32("offset table length")
		if d.err == nil && no > maxSnapshotOffsets {
			d.fail("offset table of %d bytes", no)
		}
		m.offs = d.take(int(no), "offset table")
	}
	if version >= manifestVersion {
		nq := d.u32("queue table length")
		if d.err == nil && nq > maxSnapshotQueues {
			d.fail("queue table of %d bytes", nq)
		}
		m.queues = d.take(int(nq), "queue table")
	}
	ns := d.u32("segment count")
	if d.err == nil && (ns > maxSnapshotSegments || uint64(ns)*16 != uint64(len(d.b))) {
		d.fail("%d segments in %d bytes", ns, len(d.b))
	}
	if d.err == nil && ns > 0 {
		m.segs = make([]segmentRef, 0, ns)
	}
	for i := uint32(0); i < ns && d.err == nil; i++ {
		s := segmentRef{base: int64(d.u64("segment base")), size: int64(d.u64("segment size"))}
		if s.base < 0 || s.size < 0 || s.size > log.MaxSegmentBytes || (i > 0 && s.base <= m.segs[i-1].base) {
			d.fail("segment %d at %d of %d bytes", i, s.base, s.size)
		}
		m.segs = append(m.segs, s)
	}
	if d.err == nil && (m.logStart < 0 || m.logEnd < m.logStart) {
		d.fail("log [%d, %d)", m.logStart, m.logEnd)
	}
	if d.err != nil {
		return snapshotManifest{}, d.err
	}
	return m, nil
}

// readSmallFile reads the whole of name, refusing one over limit bytes.
func readSmallFile(fs vfs.FS, name string, limit int64) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrCorrupt, name, limit)
	}
	return b, nil
}
