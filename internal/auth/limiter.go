package auth

import (
	"math"
	"sync"
	"time"
)

// LimiterOptions tune a Limiter. The zero value is usable: every field has
// a documented default.
type LimiterOptions struct {
	// Failures is how many failures a key may have in a row before it is
	// refused. Default 5.
	Failures int
	// Window is the time in which a refused key earns back all its
	// failures, one every Window/Failures. Default one minute.
	Window time.Duration
	// Size is the most keys remembered. Default 10000.
	Size int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Limiter limits failed logins per key: a user name, a client address.
// Each key has a token bucket of Failures tokens that refills at
// Failures per Window; a failure takes a token, and a key with less than
// one token left is refused until it has one again. So a key may fail 5
// times at once, then once every 12 s (by default). Successes cost
// nothing.
//
// The limiter is in memory, one per process: on Lambda each warm instance
// counts for itself, so the limit is per instance. It keeps at most Size
// keys; when full it forgets keys whose buckets have refilled, and then
// any, so a flood of keys may make it forget one (the limit per client
// address is there for floods of names). A nil *Limiter allows
// everything. A Limiter is safe for concurrent use.
type Limiter struct {
	burst float64 // tokens of a full bucket
	rate  float64 // tokens earned back per second
	size  int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

// bucket is the token bucket of one key.
type bucket struct {
	tokens float64
	last   time.Time // when tokens was computed
}

// NewLimiter returns a Limiter.
func NewLimiter(opts LimiterOptions) *Limiter {
	if opts.Failures <= 0 {
		opts.Failures = 5
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.Size <= 0 {
		opts.Size = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Limiter{
		burst:   float64(opts.Failures),
		rate:    float64(opts.Failures) / opts.Window.Seconds(),
		size:    opts.Size,
		now:     opts.Now,
		buckets: map[string]*bucket{},
	}
}

// Allow reports whether key may try to log in now.
func (l *Limiter) Allow(key string) bool {
	return l.RetryAfter(key) == 0
}

// RetryAfter returns how long key must wait before it may try again: 0
// when it may now.
func (l *Limiter) RetryAfter(key string) time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	tokens := l.refill(b, l.now())
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) / l.rate * float64(time.Second)))
}

// Fail counts a failed login of key.
func (l *Limiter) Fail(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.size {
			// Keys whose buckets are full again are as good as unknown.
			evict(l.buckets, l.size, func(b *bucket) bool { return l.refill(b, now) >= l.burst })
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	// Failures that raced past Allow may take the bucket below zero, and
	// wait longer for it; not below -burst, so no key waits more than a
	// window and a twelve seconds (with the defaults).
	b.tokens = max(l.refill(b, now)-1, -l.burst)
}

// refill brings b up to date at now and returns its tokens.
func (l *Limiter) refill(b *bucket, now time.Time) float64 {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed*l.rate)
		b.last = now
	}
	return b.tokens
}
