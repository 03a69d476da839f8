package localapi

import (
	"context"
	"errors"
)

// The execution environments of the function: each RIE (Front.InvokeURL
// and Front.InvokeURLs) serves one invocation at a time, and the front
// sends each invocation to a free one.

// takeRIE waits for a RIE that serves no invocation and returns its
// invocation URL; the caller puts it back in f.free when its invocation
// is over.
func (f *Front) takeRIE(ctx context.Context) (string, error) {
	f.freeOnce.Do(func() {
		urls := append([]string{f.InvokeURL}, f.InvokeURLs...)
		if f.InvokeURL == "" {
			urls = urls[1:]
		}
		f.free = make(chan string, len(urls))
		for _, u := range urls {
			f.free <- u
		}
	})
	if cap(f.free) == 0 {
		return "", errors.New("invoke: no RIE: set InvokeURL")
	}
	select {
	case u := <-f.free:
		return u, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
