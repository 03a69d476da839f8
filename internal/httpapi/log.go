package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pier-registry/pier/internal/metrics"
	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/statusrec"
	"github.com/pier-registry/pier/internal/store"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	loggerKey
	callerKey
	bodyKey
)

// body is a request body that counts the bytes read from it and
// remembers how reading it failed.
type body struct {
	io.ReadCloser
	n   atomic.Int64 // bytes read
	mu  sync.Mutex
	err error // the first read error but EOF and a size limit
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	var tooLarge *http.MaxBytesError
	if err != nil && err != io.EOF && !errors.As(err, &tooLarge) {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

// clientAbort returns how reading the body of the request ctx belongs to
// failed: the client went away or stopped sending (nil: it did not).
func clientAbort(ctx context.Context) error {
	b, ok := ctx.Value(bodyKey).(*body)
	if !ok {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// callerOf returns the caller of the request ctx belongs to.
func callerOf(ctx context.Context) *caller {
	if c, ok := ctx.Value(callerKey).(*caller); ok {
		return c
	}
	return &caller{open: true}
}

// requestID returns the id of the request ctx belongs to.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// logger returns the request's logger, which carries its id, or def.
func logger(ctx context.Context, def *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return def
}

// WithRequestID returns ctx carrying id as the request id that the log
// lines and error bodies show (the Lambda entry passes its own).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// newRequestID returns a request id: 16 random hex digits.
func newRequestID() string { return randid.Hex(8) }

// logged wraps next with a request id, one JSON log line per request, and
// recovery from panics (answered 500, logged with the request id).
func (h *Handler) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := r.Context()
		id := requestID(ctx)
		if id == "" {
			id = newRequestID()
			ctx = WithRequestID(ctx, id)
		}
		l := h.log.With("request_id", id)
		ctx = context.WithValue(ctx, loggerKey, l)
		ctx, reqs := store.WithRequests(ctx)
		var in *body
		if r.Body != nil && r.Body != http.NoBody {
			in = &body{ReadCloser: r.Body}
			r.Body = in
			ctx = context.WithValue(ctx, bodyKey, in)
		}
		kind := h.requestKind(r)
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		rec := &statusrec.Writer{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				l.Error("panic", "panic", fmt.Sprint(p))
				if rec.Status == 0 {
					h.error(rec, r, fmt.Errorf("panic: %v", p))
				}
			}
			status := rec.Status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			attrs := []slog.Attr{
				slog.String("kind", kind),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", rec.Bytes),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			}
			if err := clientAbort(ctx); err != nil {
				attrs = append(attrs, slog.String("client_abort", "the request body failed: "+err.Error()))
			}
			if counts := reqs.Counts(); len(counts) > 0 {
				attrs = append(attrs, slog.Any("backend_requests", counts))
			}
			l.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
			if h.metrics != nil {
				var bytesIn int64
				if in != nil {
					bytesIn = in.n.Load()
				}
				h.metrics.Request(metrics.Request{Kind: kind, Status: status, Duration: elapsed,
					BytesIn: bytesIn, BytesOut: rec.Bytes, S3: reqs.Total("s3"), DynamoDB: reqs.Total("dynamodb")})
			}
		}()
		next.ServeHTTP(rec, r)
	})
}
