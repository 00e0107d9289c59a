package log

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/batchtest"
)

// TestConcurrentReadersFollowWriter runs one writer (append, advance the
// high watermark, apply retention) against readers that follow the log with
// Wait and Read. Each reader must see contiguous offsets, never a batch at
// or above the high watermark it was allowed, and never a torn batch.
func TestConcurrentReadersFollowWriter(t *testing.T) {
	fs := vfs.NewMem()
	l := openMem(t, fs, Config{SegmentBytes: 8 << 10, IndexInterval: 256, RetentionBytes: 64 << 10})
	const batches, recs, readers = 400, 4, 4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, readers+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < batches; i++ {
			b, err := batchtest.Build(nil, batchtest.Spec{Records: recs, ValueSize: 50, Timestamp: int64(i), Tag: fmt.Sprint(i)})
			if err == nil {
				_, err = l.Append(b)
			}
			if err != nil {
				errs <- err
				return
			}
			l.SetHighWatermark(l.LogEndOffset())
			if i%50 == 0 {
				if err := l.ApplyRetention(time.UnixMilli(0)); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			offset := int64(0)
			var buf []byte
			for offset < batches*recs {
				if err := l.Wait(ctx, offset); err != nil {
					errs <- fmt.Errorf("wait %d: %w", offset, err)
					return
				}
				b, err := l.Read(buf[:0], offset, 4096)
				// The high watermark only grows, so one loaded after the read
				// bounds what the read was allowed to return.
				hw := l.HighWatermark()
				if err != nil {
					// Retention may have moved past a slow reader: skip ahead
					// as a Kafka consumer with auto.offset.reset=earliest.
					if start := l.LogStartOffset(); offset < start {
						offset = start
						continue
					}
					errs <- fmt.Errorf("read %d: %w", offset, err)
					return
				}
				buf = b
				for len(b) > 0 {
					h, err := batch.Validate(b)
					if err != nil {
						errs <- fmt.Errorf("read %d: %w", offset, err)
						return
					}
					if h.LastOffset() >= hw || h.BaseOffset > offset || h.LastOffset() < offset {
						errs <- fmt.Errorf("read %d (hw %d): got batch %d..%d", offset, hw, h.BaseOffset, h.LastOffset())
						return
					}
					offset = h.LastOffset() + 1
					b = b[h.Size():]
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
