package server

import (
	"sync"
	"time"
)

// broadcaster hands out a growing index and lets waiters block until it
// passes a value. The index starts at the server's start time in
// nanoseconds, so it keeps growing across restarts and a node's old index
// never looks newer than the server's.
type broadcaster struct {
	mu    sync.Mutex
	index uint64
	ch    chan struct{} // closed and replaced on every bump
}

func newBroadcaster(now time.Time) *broadcaster {
	return &broadcaster{index: uint64(now.UnixNano()), ch: make(chan struct{})}
}

// bump advances the index and wakes every waiter.
func (b *broadcaster) bump() {
	b.mu.Lock()
	b.index++
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}

// current returns the index and a channel closed at the next bump.
func (b *broadcaster) current() (uint64, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.index, b.ch
}
