// Package ctxsleep waits for a while unless a context ends first: the one
// sleep of Pier's retry loops and of garbage collection's wait between
// passes.
package ctxsleep

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends, and then returns ctx.Err(). A d of
// zero or less returns at once (with ctx.Err() if ctx has ended).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
