package store

import (
	"context"
	"maps"
	"sync"
)

// Requests counts the requests that stores make to the services behind
// them (S3, DynamoDB) for one API call: each is billed, so the counts are
// logged with every request, and tests and benchmarks assert them.
type Requests struct {
	mu     sync.Mutex
	counts map[string]int
}

type requestsKey struct{}

// WithRequests returns ctx carrying a new, empty Requests.
func WithRequests(ctx context.Context) (context.Context, *Requests) {
	r := &Requests{counts: map[string]int{}}
	return context.WithValue(ctx, requestsKey{}, r), r
}

// RequestsFrom returns the Requests of ctx, or nil.
func RequestsFrom(ctx context.Context) *Requests {
	r, _ := ctx.Value(requestsKey{}).(*Requests)
	return r
}

// Add counts one request of operation (e.g. "GetItem") to service (e.g.
// "dynamodb"). Add on a nil *Requests does nothing.
func (r *Requests) Add(service, operation string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.counts[service+"."+operation]++
	r.mu.Unlock()
}

// Counts returns the counts by "service.operation".
func (r *Requests) Counts() map[string]int {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.counts)
}

// Total returns the number of requests to service ("" for all services).
func (r *Requests) Total(service string) int {
	n := 0
	for k, v := range r.Counts() {
		if service == "" || len(k) > len(service) && k[:len(service)] == service && k[len(service)] == '.' {
			n += v
		}
	}
	return n
}
