package client

import (
	"testing"
	"time"
)

// TestNewSubmitToken: tokens are 32 hex digits, differ even within one
// nanosecond, and sort in the order they were made.
func TestNewSubmitToken(t *testing.T) {
	now := time.Unix(1800000000, 5)
	tests := []struct {
		name   string
		a, b   time.Time
		sorted bool // a's token sorts before b's
	}{
		{"later", now, now.Add(time.Nanosecond), true},
		{"much later", now, now.Add(time.Hour), true},
		{"earlier", now.Add(time.Millisecond), now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newSubmitToken(tt.a), newSubmitToken(tt.b)
			if len(a) != 32 || len(b) != 32 {
				t.Fatalf("tokens %q, %q: want 32 hex digits", a, b)
			}
			if (a < b) != tt.sorted {
				t.Errorf("token %q < %q = %v, want %v", a, b, a < b, tt.sorted)
			}
		})
	}
	seen := map[string]bool{}
	for range 1000 {
		tok := newSubmitToken(now)
		if seen[tok] {
			t.Fatalf("token %q made twice", tok)
		}
		seen[tok] = true
	}
}
