package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec state is expensive to build (a gzip writer holds about a megabyte of
// tables), so it is pooled or shared: gzip and lz4 writers and readers sit
// in sync.Pools, zstd uses one Encoder and one Decoder whose EncodeAll and
// DecodeAll are safe for concurrent use, built on first use. Snappy block
// coding is stateless.

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type gzipEncoder struct {
	zw  *gzip.Writer
	out appendWriter
}

type gzipDecoder struct {
	zr gzip.Reader
	in bytes.Reader
}

type lz4Encoder struct {
	zw  *lz4.Writer
	out appendWriter
}

type lz4Decoder struct {
	zr *lz4.Reader
	in bytes.Reader
}

var (
	gzipEncoders = sync.Pool{New: func() any {
		e := &gzipEncoder{}
		e.zw = gzip.NewWriter(&e.out) // default level, like Kafka's
		return e
	}}
	gzipDecoders = sync.Pool{New: func() any { return new(gzipDecoder) }}
	lz4Encoders  sync.Pool // of *lz4Encoder; built by getLZ4Encoder, which can fail
	lz4Decoders  = sync.Pool{New: func() any {
		d := &lz4Decoder{}
		d.zr = lz4.NewReader(&d.in)
		return d
	}}

	zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithEncoderLevel(zstd.SpeedDefault))
	})
	// The decoder's DecodeAll stops at cap(dst), which is how
	// zstdDecompress bounds its output.
	zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
		return zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecodeAllCapLimit(true))
	})
)

func getLZ4Encoder() (*lz4Encoder, error) {
	if e, ok := lz4Encoders.Get().(*lz4Encoder); ok {
		return e, nil
	}
	e := &lz4Encoder{}
	e.zw = lz4.NewWriter(&e.out)
	// Kafka's own LZ4 writer uses 64 KiB independent blocks; the default
	// 4 MiB block would make every small batch pay for a 4 MiB buffer.
	if err := e.zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
		return nil, fmt.Errorf("batch: lz4 writer: %w", err)
	}
	return e, nil
}

// compress appends src compressed with c (not None) to dst.
func compress(c Codec, dst, src []byte) ([]byte, error) {
	switch c {
	case Gzip:
		e := gzipEncoders.Get().(*gzipEncoder)
		defer gzipEncoders.Put(e)
		e.out.b = dst
		e.zw.Reset(&e.out)
		_, err := e.zw.Write(src)
		if err == nil {
			err = e.zw.Close()
		}
		dst, e.out.b = e.out.b, nil // do not let the pool pin the caller's buffer
		if err != nil {
			return dst, fmt.Errorf("batch: gzip: %w", err)
		}
		return dst, nil
	case Snappy:
		// Raw snappy block, as franz-go and librdkafka write; Java's
		// xerial reader accepts it.
		n := s2.MaxEncodedLen(len(src))
		if n < 0 {
			return dst, fmt.Errorf("%w: %d bytes for snappy", ErrTooLarge, len(src))
		}
		start := len(dst)
		dst = slices.Grow(dst, n)
		out := s2.EncodeSnappy(dst[start:start+n], src)
		return dst[:start+len(out)], nil
	case LZ4:
		e, err := getLZ4Encoder()
		if err != nil {
			return dst, err
		}
		defer lz4Encoders.Put(e)
		e.out.b = dst
		e.zw.Reset(&e.out)
		_, err = e.zw.Write(src)
		if err == nil {
			err = e.zw.Close()
		}
		dst, e.out.b = e.out.b, nil
		if err != nil {
			return dst, fmt.Errorf("batch: lz4: %w", err)
		}
		return dst, nil
	case Zstd:
		enc, err := zstdEncoder()
		if err != nil {
			return dst, fmt.Errorf("batch: zstd encoder: %w", err)
		}
		return enc.EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("%w: %d", ErrUnknownCodec, c)
}

// decompress returns src decompressed with c (not None) into a new buffer
// of at most maxOut bytes. The result is owned by the caller. Errors wrap
// ErrTooLarge if the output would exceed maxOut and ErrCorrupt otherwise.
func decompress(c Codec, src []byte, maxOut int) ([]byte, error) {
	maxOut = max(maxOut, 0)
	switch c {
	case Gzip:
		return gzipDecompress(src, maxOut)
	case Snappy:
		return snappyDecompress(src, maxOut)
	case LZ4:
		d := lz4Decoders.Get().(*lz4Decoder)
		defer lz4Decoders.Put(d)
		d.in.Reset(src)
		d.zr.Reset(&d.in)
		defer d.in.Reset(nil)
		// An LZ4 block expands at most about 255 times.
		out, err := readLimited(d.zr, min(maxOut, 4*len(src)), maxOut)
		return out, codecError("lz4", err)
	case Zstd:
		return zstdDecompress(src, maxOut)
	}
	return nil, fmt.Errorf("%w: unknown codec %d", ErrCorrupt, c)
}

// codecError wraps a decompression error: ErrTooLarge stays as it is,
// anything else becomes ErrCorrupt.
func codecError(name string, err error) error {
	if err == nil || errors.Is(err, ErrTooLarge) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, name, err)
}

func gzipDecompress(src []byte, maxOut int) ([]byte, error) {
	d := gzipDecoders.Get().(*gzipDecoder)
	defer gzipDecoders.Put(d)
	defer d.in.Reset(nil)
	d.in.Reset(src)
	if err := d.zr.Reset(&d.in); err != nil {
		return nil, codecError("gzip", err)
	}
	// The trailer's ISIZE is the output size mod 2^32: a good first guess,
	// trusted no further than deflate's maximum ratio of about 1032:1.
	hint := 0
	if len(src) >= 4 {
		hint = int(binary.LittleEndian.Uint32(src[len(src)-4:]))
	}
	out, err := readLimited(&d.zr, min(hint, 1032*len(src), maxOut), maxOut)
	return out, codecError("gzip", err)
}

// xerialMagic starts the framing that Java's snappy-java (xerial) writes:
// the magic, a 4-byte version and a 4-byte compatible version, then chunks
// of [int32 big-endian length][raw snappy block].
var xerialMagic = []byte("\x82SNAPPY\x00")

const xerialHeaderSize = 16

func snappyDecompress(src []byte, maxOut int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(nil, src, maxOut)
	}
	if len(src) < xerialHeaderSize {
		return nil, fmt.Errorf("%w: snappy: xerial header is %d bytes", ErrCorrupt, len(src))
	}
	var out []byte
	for p := xerialHeaderSize; p < len(src); {
		if len(src)-p < 4 {
			return nil, fmt.Errorf("%w: snappy: xerial chunk length at byte %d", ErrCorrupt, p)
		}
		n := int64(binary.BigEndian.Uint32(src[p:]))
		p += 4
		if n > int64(len(src)-p) {
			return nil, fmt.Errorf("%w: snappy: xerial chunk of %d bytes at byte %d overruns", ErrCorrupt, n, p-4)
		}
		var err error
		if out, err = snappyBlock(out, src[p:p+int(n)], maxOut); err != nil {
			return nil, err
		}
		p += int(n)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// snappyBlock appends the decoded raw snappy block src to dst, failing
// with ErrTooLarge if dst would exceed maxOut bytes. The block declares its
// decoded length up front, so nothing is allocated for a block that is too
// large.
func snappyBlock(dst, src []byte, maxOut int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, codecError("snappy", err)
	}
	if n > maxOut-len(dst) {
		return nil, fmt.Errorf("%w: snappy block decodes to %d bytes, limit %d", ErrTooLarge, len(dst)+n, maxOut)
	}
	start := len(dst)
	dst = slices.Grow(dst, n)
	// s2 decodes the snappy block format (and its own superset of it).
	if _, err := s2.Decode(dst[start:start+n], src); err != nil {
		return nil, codecError("snappy", err)
	}
	return dst[:start+n], nil
}

// zstdBlockRoom is the most one zstd block can add to the output (128 KiB)
// plus slack for the decoder's over-allocation.
const zstdBlockRoom = 128<<10 + 1<<10

func zstdDecompress(src []byte, maxOut int) ([]byte, error) {
	dec, err := zstdDecoder()
	if err != nil {
		return nil, fmt.Errorf("batch: zstd decoder: %w", err)
	}
	// DecodeAll stops at cap(out), so each try is bounded by its buffer.
	// Frames written by EncodeAll-style producers (this package, franz-go,
	// librdkafka) declare their content size, and one try of exactly that
	// size is enough. Streaming producers (Java) leave it out, so guess and
	// grow fourfold up to maxOut. A try can overshoot its cap by a block
	// and the append growth behind it, so the tries allocate a few times
	// maxOut in all, never more.
	size := min(maxOut, max(4*len(src), 64<<10))
	var fh zstd.Header
	if fh.Decode(src) == nil && fh.HasFCS {
		if fh.FrameContentSize > uint64(maxOut) {
			return nil, fmt.Errorf("%w: zstd frame declares %d bytes, limit %d", ErrTooLarge, fh.FrameContentSize, maxOut)
		}
		size = int(fh.FrameContentSize)
	}
	for {
		out, err := dec.DecodeAll(src, make([]byte, 0, size))
		if err == nil {
			return out, nil
		}
		// The cap is reported as ErrDecoderSizeExceeded when the decoder
		// sees it coming, and as a generic block error when a block runs
		// into it. DecodeAll returns the blocks decoded so far, so an error
		// with less than a block of room left may be the cap: try larger.
		full := errors.Is(err, zstd.ErrDecoderSizeExceeded) || (out != nil && cap(out)-len(out) < zstdBlockRoom)
		if !full {
			return nil, codecError("zstd", err)
		}
		if size >= maxOut {
			return nil, fmt.Errorf("%w: zstd output exceeds %d bytes", ErrTooLarge, maxOut)
		}
		size = min(maxOut, max(4*size, 64<<10))
	}
}

// readLimited reads r to EOF into a new buffer of first capacity hint that
// grows up to maxOut bytes; past that it fails with ErrTooLarge.
func readLimited(r io.Reader, hint, maxOut int) ([]byte, error) {
	buf := make([]byte, 0, max(min(hint, maxOut), min(512, maxOut)))
	var probe [1]byte
	for stalls := 0; stalls < 100; {
		if len(buf) == cap(buf) {
			if len(buf) >= maxOut {
				// Full: any further byte is over the limit.
				n, err := r.Read(probe[:])
				switch {
				case n > 0:
					return nil, fmt.Errorf("%w: decompressed records exceed %d bytes", ErrTooLarge, maxOut)
				case err == io.EOF:
					return buf, nil
				case err != nil:
					return nil, err
				}
				stalls++
				continue
			}
			buf = growExact(buf, min(maxOut, 2*cap(buf))-len(buf))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			stalls++
		} else {
			stalls = 0
		}
	}
	return nil, io.ErrNoProgress
}

// growExact returns b with room for exactly n more bytes. Unlike
// slices.Grow it does not round up to a doubling, so readLimited never
// allocates beyond its limit.
func growExact(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	if len(b) == 0 {
		return make([]byte, 0, n)
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}
