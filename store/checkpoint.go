package store

import (
	"context"
	"database/sql"
	"time"
)

// Checkpoints. With WAL, commits append to the log and a checkpoint
// copies the log back into the database file, syncing both. SQLite
// checkpoints from inside the commit that grows the log past 1000 pages,
// which made every fiftieth or so submission wait for two fsyncs and the
// copy. The writing connection does not checkpoint (wal_autocheckpoint =
// 0): a goroutine of its own does, on a connection of its own, without
// blocking the writer (PASSIVE), a few times a second. Durability does not
// change: a commit is in the log, synced as before.

// checkpointEvery is how often the log is copied back.
const checkpointEvery = 100 * time.Millisecond

// startCheckpointer starts the checkpointing goroutine on its own
// connection to dsn; the returned function stops it.
func startCheckpointer(dsn string) (stop func(), err error) {
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Errors (SQLITE_BUSY while another checkpoint runs) leave the
			// log to the next tick.
			db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}()
	return func() { cancel(); <-done; db.Close() }, nil
}
