package store

import (
	"context"
	"database/sql"
	"time"
)

// Group commit. Small independent writes (a submission, an audit record)
// arrive from many requests at once; committing each alone makes the
// commit, not the work, the cost. The batcher runs whatever writes are
// queued when it is free in one transaction (retrying them one by one if
// that fails, so one bad write fails alone), and answers each caller after
// the commit: a write is acknowledged only once durable, and a lone write
// waits for nobody. A write function must therefore be safe to run twice
// against a rolled-back transaction: it only issues statements on tx.

// maxBatch bounds the writes committed together.
const maxBatch = 512

// When a write arrives less than busyGap after the last batch was
// closed, the batcher lets up to
// gatherWindow go by after the first of a batch, gathering more: each
// commit costs about as much as ten small writes (its pages written to
// the log, its locks), and under a storm of submissions most batches
// held one write. A lone write is committed at once.
const (
	busyGap      = time.Millisecond
	gatherWindow = 200 * time.Microsecond
)

type batchedWrite struct {
	fn   func(*sql.Tx) error
	done chan error
}

// startBatcher starts the group-commit goroutine; Close stops it.
func (s *Store) startBatcher() {
	s.writes = make(chan batchedWrite, maxBatch)
	s.batcherDone = make(chan struct{})
	go func() {
		defer close(s.batcherDone)
		window := time.NewTimer(time.Hour)
		window.Stop()
		var last time.Time // when the last batch was closed
		for w := range s.writes {
			batch := []batchedWrite{w}
			var gather <-chan time.Time // nil: take only what is queued
			if time.Since(last) < busyGap {
				window.Reset(gatherWindow)
				gather = window.C
			}
		more:
			for len(batch) < maxBatch {
				select {
				case w, ok := <-s.writes:
					if !ok {
						break more
					}
					batch = append(batch, w)
					continue
				default:
				}
				if gather == nil {
					break
				}
				select {
				case w, ok := <-s.writes:
					if !ok {
						break more
					}
					batch = append(batch, w)
				case <-gather:
					gather = nil
				}
			}
			window.Stop()
			last = time.Now()
			s.commitBatch(batch)
		}
	}()
}

// commitBatch runs a batch in one transaction and answers every write.
// If the transaction fails, each write is retried in a transaction of its
// own, so one bad write fails alone.
func (s *Store) commitBatch(batch []batchedWrite) {
	err := s.tx(context.Background(), func(tx *sql.Tx) error {
		for _, w := range batch {
			if err := w.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, w := range batch {
			w.done <- err
		}
		return
	}
	for _, w := range batch {
		w.done <- s.tx(context.Background(), w.fn)
	}
}

// inBatch runs fn in the next group commit and returns once that commit
// is durable (or failed). fn must only use tx and must not keep it.
func (s *Store) inBatch(ctx context.Context, fn func(*sql.Tx) error) error {
	w := batchedWrite{fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the write happens: wait for its outcome even if ctx
	// ends, so an acknowledgement never lies.
	return <-w.done
}
