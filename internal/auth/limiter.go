package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/pier-registry/pier/internal/store"
)

// LimiterOptions tune a Limiter. The zero value is usable: every field has
// a documented default.
type LimiterOptions struct {
	// Failures is how many failures a key may have in a row before it is
	// refused. Default 5.
	Failures int
	// AddrFailures is how many failures a client address may have in a
	// row, whatever the names it tries, before its logins are refused
	// ([Limiter.Login]). Default 10 times Failures.
	AddrFailures int
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
// [Limiter.Login] is how the registry and the token endpoint use it: a
// login is limited per user name and client address together, so that
// nobody can lock a user out from another address and one user's typos
// do not refuse another user; and per client address, with a larger
// bucket (AddrFailures), so that one address cannot try a password
// against any number of names, each costing a bcrypt. A user who logged
// in from an address in the last Window times 60 (an hour by default)
// is not refused there for the failures of other names.
//
// The limiter is in memory, one per process: on Lambda each warm instance
// counts for itself, so the limit is per instance. It keeps at most Size
// keys; when full it forgets keys whose buckets have refilled, and then
// any, so a flood of keys may make it forget one (the limit per client
// address is there for floods of names). A nil *Limiter allows
// everything. A Limiter is safe for concurrent use.
type Limiter struct {
	burst     float64 // tokens of a full bucket
	addrBurst float64 // tokens of a full bucket of a client address
	window    time.Duration
	size      int
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	known   map[string]time.Time // user and address: until when trusted
}

// bucket is the token bucket of one key.
type bucket struct {
	tokens float64
	burst  float64   // tokens when full
	last   time.Time // when tokens was computed
}

// NewLimiter returns a Limiter.
func NewLimiter(opts LimiterOptions) *Limiter {
	if opts.Failures <= 0 {
		opts.Failures = 5
	}
	if opts.AddrFailures <= 0 {
		opts.AddrFailures = 10 * opts.Failures
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
		burst:     float64(opts.Failures),
		addrBurst: float64(opts.AddrFailures),
		window:    opts.Window,
		size:      opts.Size,
		now:       opts.Now,
		buckets:   map[string]*bucket{},
		known:     map[string]time.Time{},
	}
}

// LimitedError is the error of a login refused for too many failures.
type LimitedError struct {
	// Wait is how long the client must wait before it tries again.
	Wait time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("too many failed logins: try again in %s", e.Wait.Round(time.Second))
}

// Login checks user and password with v, for a client at addr, under the
// limits: it fails with a *LimitedError, before any password is checked,
// when the user at addr or addr itself has failed too often; with an
// error wrapping ErrBadCredentials, counted, when the credentials are
// wrong; with the store's error otherwise. user is cut to 256 bytes for
// the key (Check refuses longer names anyway).
func (l *Limiter) Login(ctx context.Context, v *Verifier, user, password, addr string) (*store.Identity, error) {
	userKey, addrKey, knownKey := "user:"+truncate(user)+"\x00"+addr, "addr:"+addr, truncate(user)+"\x00"+addr
	if l != nil {
		l.mu.Lock()
		now := l.now()
		wait := l.wait(l.buckets[userKey], now)
		if until, ok := l.known[knownKey]; !ok || !now.Before(until) {
			wait = max(wait, l.wait(l.buckets[addrKey], now))
		}
		l.mu.Unlock()
		if wait > 0 {
			return nil, &LimitedError{Wait: wait}
		}
	}
	if v == nil {
		return nil, fmt.Errorf("%w: no verifier", ErrBadCredentials)
	}
	id, err := v.Check(ctx, user, password)
	if l == nil || err != nil && !errors.Is(err, ErrBadCredentials) {
		return id, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if err != nil {
		l.fail(userKey, l.burst, now)
		l.fail(addrKey, l.addrBurst, now)
		return nil, err
	}
	if _, ok := l.known[knownKey]; !ok && len(l.known) >= l.size {
		evict(l.known, l.size, func(until time.Time) bool { return !now.Before(until) })
	}
	l.known[knownKey] = now.Add(60 * l.window)
	return id, nil
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
	return l.wait(l.buckets[key], l.now())
}

// wait returns how long the key of b (nil: unknown) must wait at now.
func (l *Limiter) wait(b *bucket, now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	tokens := l.refill(b, now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) / l.rate(b) * float64(time.Second)))
}

// Fail counts a failed login of key.
func (l *Limiter) Fail(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail(key, l.burst, l.now())
}

// fail counts a failure of key, whose bucket holds burst tokens when
// full, at now.
func (l *Limiter) fail(key string, burst float64, now time.Time) {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.size {
			// Keys whose buckets are full again are as good as unknown.
			evict(l.buckets, l.size, func(b *bucket) bool { return l.refill(b, now) >= b.burst })
		}
		b = &bucket{tokens: burst, burst: burst, last: now}
		l.buckets[key] = b
	}
	// Failures that raced past the check may take the bucket below zero,
	// and wait longer for it; not below -burst, so no key waits more than
	// a window and one failure's worth.
	b.tokens = max(l.refill(b, now)-1, -b.burst)
}

// rate is the tokens b earns back per second: all of them in a window.
func (l *Limiter) rate(b *bucket) float64 { return b.burst / l.window.Seconds() }

// refill brings b up to date at now and returns its tokens.
func (l *Limiter) refill(b *bucket, now time.Time) float64 {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed*l.rate(b))
		b.last = now
	}
	return b.tokens
}
