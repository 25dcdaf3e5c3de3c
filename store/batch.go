package store

import (
	"context"
	"database/sql"
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
		for w := range s.writes {
			batch := []batchedWrite{w}
		more:
			for len(batch) < maxBatch {
				select {
				case w, ok := <-s.writes:
					if !ok {
						break more
					}
					batch = append(batch, w)
				default:
					break more
				}
			}
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
