package auth

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	clk := newClock()
	l := NewLimiter(LimiterOptions{Failures: 5, Window: time.Minute, Now: clk.Now})
	type step struct {
		advance time.Duration
		fails   int           // failures of "alice" first
		allow   bool          // then: Allow("alice")
		wait    time.Duration // and RetryAfter("alice")
	}
	steps := []step{
		{0, 0, true, 0},
		{0, 4, true, 0},
		{0, 1, false, 12 * time.Second}, // 5 in a row: refused, one back every 12 s
		{6 * time.Second, 0, false, 6 * time.Second},
		{6 * time.Second, 0, true, 0},
		{0, 1, false, 12 * time.Second}, // one more failure: refused again
		{12 * time.Second, 0, true, 0},
		{48 * time.Second, 0, true, 0}, // a minute later: 5 back
		{0, 4, true, 0},
		{0, 1, false, 12 * time.Second},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		for range s.fails {
			l.Fail("alice")
		}
		if got := l.Allow("alice"); got != s.allow {
			t.Fatalf("step %d: Allow = %v, want %v", i, got, s.allow)
		}
		if got := l.RetryAfter("alice"); got != s.wait {
			t.Fatalf("step %d: RetryAfter = %v, want %v", i, got, s.wait)
		}
	}
	if !l.Allow("bob") || !l.Allow("addr:203.0.113.7") {
		t.Error("another key is refused")
	}
}

func TestLimiterPileUp(t *testing.T) {
	clk := newClock()
	l := NewLimiter(LimiterOptions{Failures: 5, Window: time.Minute, Now: clk.Now})
	// Failures past the limit (requests that raced past Allow) make the
	// key wait longer, up to a window and one failure's worth.
	for range 100 {
		l.Fail("k")
	}
	if got := l.RetryAfter("k"); got != 72*time.Second {
		t.Errorf("RetryAfter = %v, want 1m12s", got)
	}
}

func TestLimiterNil(t *testing.T) {
	var l *Limiter
	l.Fail("k")
	if !l.Allow("k") || l.RetryAfter("k") != 0 {
		t.Error("nil limiter refuses")
	}
}

func TestLimiterBounded(t *testing.T) {
	clk := newClock()
	l := NewLimiter(LimiterOptions{Failures: 2, Window: time.Minute, Size: 10, Now: clk.Now})
	for i := range 100 {
		l.Fail(fmt.Sprint(i))
		if n := len(l.buckets); n > 10 {
			t.Fatalf("limiter holds %d keys, want at most 10", n)
		}
	}
	// Keys whose buckets refilled go first: a key still limited stays.
	clk.Advance(time.Minute)
	l.Fail("x")
	l.Fail("x")
	for i := range 9 {
		l.Fail(fmt.Sprint("y", i))
	}
	if l.Allow("x") {
		t.Error("limited key forgotten while refilled ones were there")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(LimiterOptions{Size: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := fmt.Sprint(g, i%70)
				l.Fail(k)
				l.Allow(k)
			}
		})
	}
	wg.Wait()
	if n := len(l.buckets); n > 50 {
		t.Errorf("limiter holds %d keys", n)
	}
}
