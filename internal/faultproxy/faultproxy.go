// Package faultproxy is a reverse proxy for tests that puts faults between
// Pier and its AWS services: it forwards most requests to S3 or DynamoDB
// unchanged and, at a rate the test sets, answers one the way a failing
// service does (a server error, throttling), drops the connection before
// or after the service applied the request, or answers late.
//
// The faults are those AWS documents for its services: S3 answers
// 500 InternalError and 503 SlowDown; DynamoDB answers 500
// InternalServerError and 400 ThrottlingException (with x-amzn-ErrorType);
// and connections of either can be reset at any point. The SDK retries
// each of them, so a request of Pier fails only when its retries all meet
// faults, and a dropped answer may mean that the service applied the
// request that the SDK then sends again.
//
// The proxy keeps the Host header its client sent, so SigV4 signatures
// made for the proxy's address (the SDK's, and those of presigned URLs)
// still verify at the service behind it.
package faultproxy

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Service is the kind of service behind a proxy: it says what its faults
// look like.
type Service int

// The services a proxy can stand in front of.
const (
	S3 Service = iota + 1
	DynamoDB
)

// Fault is a kind of fault.
type Fault int

// The faults a proxy injects.
const (
	// ServerError: S3's 500 InternalError, DynamoDB's 500
	// InternalServerError; the request is not forwarded.
	ServerError Fault = iota
	// Throttle: S3's 503 SlowDown, DynamoDB's 400 ThrottlingException;
	// the request is not forwarded.
	Throttle
	// DropBefore: the connection is closed without an answer; the request
	// is not forwarded.
	DropBefore
	// DropAfter: the request is forwarded and applied, then the
	// connection is closed without the service's answer.
	DropAfter
	// Slow: the request is forwarded after a delay.
	Slow
	numFaults
)

// Kinds returns every kind of fault.
func Kinds() []Fault {
	fs := make([]Fault, numFaults)
	for f := range numFaults {
		fs[f] = f
	}
	return fs
}

func (f Fault) String() string {
	switch f {
	case ServerError:
		return "server error"
	case Throttle:
		return "throttle"
	case DropBefore:
		return "drop before"
	case DropAfter:
		return "drop after"
	case Slow:
		return "slow"
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// Proxy is a running fault-injecting reverse proxy on a loopback port.
type Proxy struct {
	// URL is the proxy's address, to give Pier as the service's endpoint.
	URL string

	service Service
	rp      *httputil.ReverseProxy
	srv     *http.Server
	rate    atomic.Uint64 // faults per million requests
	delay   time.Duration
	faults  []Fault

	mu       sync.Mutex
	rng      *rand.Rand
	requests int
	injected [numFaults]int
}

// Options sets up a Proxy.
type Options struct {
	// Rate is the share of requests that meet a fault, 0 to 1; it can be
	// changed later with SetRate.
	Rate float64
	// Seed makes the choice of the requests that meet a fault repeatable.
	Seed uint64
	// Delay is how late a Slow fault answers (default 200 ms).
	Delay time.Duration
	// Faults are the kinds of fault to inject, in turn; nil: all.
	Faults []Fault
}

// Start starts a proxy in front of the service at target (a base URL such
// as http://127.0.0.1:4566).
func Start(service Service, target string, opts Options) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("fault proxy target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy: %w", err)
	}
	if len(opts.Faults) == 0 {
		opts.Faults = Kinds()
	}
	if opts.Delay <= 0 {
		opts.Delay = 200 * time.Millisecond
	}
	p := &Proxy{
		URL:     "http://" + ln.Addr().String(),
		service: service,
		delay:   opts.Delay,
		faults:  opts.Faults,
		rng:     rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
	p.SetRate(opts.Rate)
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // keep the signed Host
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// SetRate sets the share of requests that meet a fault, 0 to 1.
func (p *Proxy) SetRate(rate float64) {
	p.rate.Store(uint64(min(max(rate, 0), 1) * 1e6))
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// Stats returns the number of requests the proxy has seen and how many
// met each fault.
func (p *Proxy) Stats() (requests int, injected map[Fault]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	injected = map[Fault]int{}
	for f, n := range p.injected {
		if n > 0 {
			injected[Fault(f)] = n
		}
	}
	return p.requests, injected
}

// pick decides the fate of one request: a fault, or -1 for none.
func (p *Proxy) pick() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	if p.rng.Uint64N(1e6) >= p.rate.Load() {
		return -1
	}
	// The kinds take turns, so that a run with as many faults as kinds
	// meets every one of them.
	var total int
	for _, n := range p.injected {
		total += n
	}
	f := p.faults[total%len(p.faults)]
	p.injected[f]++
	return f
}

// ServeHTTP forwards r, or injects the fault pick chose.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch f := p.pick(); f {
	case ServerError, Throttle:
		io.Copy(io.Discard, r.Body)
		p.answerError(w, f)
	case DropBefore:
		drop(w)
	case DropAfter:
		rec := &discardWriter{header: http.Header{}}
		p.rp.ServeHTTP(rec, r)
		drop(w)
	case Slow:
		time.Sleep(p.delay)
		p.rp.ServeHTTP(w, r)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// answerError writes the error answer of fault f (ServerError or Throttle)
// in the service's own form.
func (p *Proxy) answerError(w http.ResponseWriter, f Fault) {
	if p.service == DynamoDB {
		typ, status := "InternalServerError", http.StatusInternalServerError
		if f == Throttle {
			typ, status = "ThrottlingException", http.StatusBadRequest
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected by faultproxy"}`, typ)
		return
	}
	code, status := "InternalError", http.StatusInternalServerError
	if f == Throttle {
		code, status = "SlowDown", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by faultproxy</Message></Error>`, code)
}

// drop closes the connection of w without an answer.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server closes the connection
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // a reset, as a dropped connection often is
	}
	conn.Close()
}

// discardWriter takes the service's answer of a DropAfter and keeps none
// of it.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// String describes what the proxy has done, for test logs.
func (p *Proxy) String() string {
	n, inj := p.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests", n)
	for f := range numFaults {
		if inj[f] > 0 {
			fmt.Fprintf(&b, ", %s %d", f, inj[f])
		}
	}
	return b.String()
}
