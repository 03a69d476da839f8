package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"sync"
	"time"

	"github.com/pier-registry/pier/internal/direct"
)

// directUpload is a direct upload under way: the part URLs known so far.
type directUpload struct {
	p      *pusher
	b      blobJob
	loc    string
	size   int64
	psize  int64
	nparts int

	mu       sync.Mutex
	urls     map[int]direct.PartURL
	uploaded map[int]int64
}

// pushDirect sends the blob of b on the direct upload at loc, whose start
// answered body.
func (p *pusher) pushDirect(ctx context.Context, b blobJob, loc string, body io.Reader) error {
	var s direct.Session
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&s); err != nil {
		return fmt.Errorf("direct upload: bad answer from the registry: %w", err)
	}
	if s.PartSize > 0 {
		p.states.save(p.reg.repo, b.desc.Digest, uploadState{Location: loc, Size: b.desc.Size, Direct: true, PartSize: s.PartSize})
	}
	return p.runDirect(ctx, b, loc, s)
}

// runDirect sends the parts of the direct upload at loc that the store
// does not hold (s: the registry's last answer about it) to their
// presigned URLs in parallel (in the push's transfer slots: p.opts.Jobs at
// a time), and ends the upload: the registry checks and places the bytes.
// An upload that fails is left for a later push to continue (the
// registry's cleanup aborts it if none does).
func (p *pusher) runDirect(ctx context.Context, b blobJob, loc string, s direct.Session) error {
	if s.PartSize <= 0 {
		return fmt.Errorf("direct upload: the registry gave part size %d", s.PartSize)
	}
	u := &directUpload{p: p, b: b, loc: loc, size: b.desc.Size, psize: s.PartSize,
		nparts:   int((b.desc.Size + s.PartSize - 1) / s.PartSize),
		urls:     map[int]direct.PartURL{},
		uploaded: map[int]int64{},
	}
	if s.MaxParts > 0 && u.nparts > s.MaxParts {
		return fmt.Errorf("direct upload: %d parts of %d bytes, over the registry's %d", u.nparts, s.PartSize, s.MaxParts)
	}
	u.learn(s)
	for attempt := 0; ; attempt++ {
		if err := u.sendParts(ctx); err != nil {
			return err
		}
		err := p.putDigest(ctx, b, loc, nil)
		if err == nil {
			break
		}
		if ctx.Err() != nil || attempt >= p.reg.retries || !hasCode(err, "BLOB_UPLOAD_INVALID") {
			return err
		}
		// The registry did not find every part: in an upload in one PUT,
		// another upload of the same blob may have put it again since.
		// Send what the store does not hold, and finish again.
		s, serr := p.directParts(ctx, loc, 1, min(u.nparts, direct.MaxPartURLs))
		if serr != nil {
			return fmt.Errorf("%w; then its parts: %w", err, serr)
		}
		p.logf("%s: the registry did not find every part (%v); sending the missing ones again", short(b.desc.Digest), err)
		u.mu.Lock()
		clear(u.uploaded)
		u.learn(s)
		u.mu.Unlock()
		b.prog.set(0)
	}
	parts := "parts"
	if u.nparts == 1 {
		parts = "part"
	}
	b.prog.finish(fmt.Sprintf("pushed direct (%d %s)", u.nparts, parts))
	return nil
}

// directParts asks the registry for the URLs of parts first to last of
// the direct upload at loc, and which parts the store holds.
func (p *pusher) directParts(ctx context.Context, loc string, first, last int) (direct.Session, error) {
	var s direct.Session
	resp, err := p.reg.send(ctx, request{method: http.MethodGet, loc: loc,
		header: http.Header{direct.PartsHeader: {fmt.Sprintf("%d-%d", first, last)}}}, http.StatusOK)
	if err != nil {
		return s, fmt.Errorf("part URLs %d-%d: %w", first, last, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&s); err != nil {
		return s, fmt.Errorf("part URLs %d-%d: bad answer from the registry: %w", first, last, err)
	}
	return s, nil
}

// learn keeps the part URLs and the uploaded parts of s. The caller
// holds u.mu, or is alone.
func (u *directUpload) learn(s direct.Session) {
	for _, pu := range s.Parts {
		u.urls[pu.Number] = pu
	}
	for _, up := range s.Uploaded {
		u.uploaded[up.Number] = up.Size
	}
}

// partLen is the length of part i (from 1).
func (u *directUpload) partLen(i int) int64 {
	return min(u.psize, u.size-int64(i-1)*u.psize)
}

// sendParts sends every part, each at most p.opts.Jobs at a time: read
// in place from a file, else read in turn from the stream into a buffer
// of its own; the one part of a stream (an upload in one PUT, up to
// gigabytes) is sent as it is read, and read again from the start of the
// source when it is sent again.
func (u *directUpload) sendParts(ctx context.Context) error {
	rc, err := u.b.open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	ra, inPlace := rc.(io.ReaderAt)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	fail := func(err error) {
		once.Do(func() { first = err; cancel() })
	}
parts:
	for i := 1; i <= u.nparts; i++ {
		if err := u.p.acquire(ctx); err != nil {
			fail(err)
			break
		}
		n := u.partLen(i)
		src, base := ra, int64(i-1)*u.psize
		body := func(bool) (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(src, base, n)), nil }
		switch {
		case !inPlace && u.nparts == 1:
			body = func(first bool) (io.ReadCloser, error) {
				if first {
					return io.NopCloser(io.LimitReader(rc, n)), nil // closed by sendParts
				}
				return openAt(ctx, u.b, 0, n)
			}
		case !inPlace:
			buf := make([]byte, n)
			if _, err := io.ReadFull(rc, buf); err != nil {
				u.p.release()
				fail(fmt.Errorf("reading part %d: %w", i, err))
				break parts
			}
			src, base = bytes.NewReader(buf), 0
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer u.p.release()
			if err := u.sendPart(ctx, i, n, body); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	return first
}

// sendPart sends part i (n bytes, opened by body: first for the first
// send) to its URL, again with a fresh URL when it fails, unless the
// store turns out to hold it.
func (u *directUpload) sendPart(ctx context.Context, i int, n int64, body func(first bool) (io.ReadCloser, error)) error {
	var last error
	sent := false
	for attempt := 0; attempt <= u.p.reg.retries; attempt++ {
		if attempt > 0 {
			if err := u.p.reg.pause(ctx, attempt); err != nil {
				return err
			}
		}
		pu, done, err := u.partURL(ctx, i, attempt > 0)
		if err != nil {
			last = err
			if !retriable(err) {
				return err
			}
			continue
		}
		if done {
			u.b.prog.add(n)
			return nil
		}
		rc, err := body(!sent)
		if err != nil {
			return fmt.Errorf("part %d: reading the source: %w", i, err)
		}
		sent = true
		cr := &counter{r: rc, prog: u.b.prog}
		err = u.put(ctx, pu, cr, n)
		rc.Close()
		if err == nil {
			return nil
		}
		u.b.prog.add(-cr.n)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
		if attempt < u.p.reg.retries {
			u.p.logf("%s: part %d failed (%v); sending it again", short(u.b.desc.Digest), i, err)
		}
	}
	return fmt.Errorf("part %d: %w", i, last)
}

// put sends one part's bytes to its presigned URL, with the headers
// signed with it.
func (u *directUpload) put(ctx context.Context, pu direct.PartURL, body io.Reader, n int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, pu.URL, body)
	if err != nil {
		return err
	}
	req.ContentLength = n
	for k, v := range pu.Header {
		req.Header.Set(k, v)
	}
	resp, err := u.p.reg.bare.Do(req)
	if err != nil {
		// The URL's query is its signature: a credential, kept out of
		// messages.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			ue.URL, _, _ = strings.Cut(ue.URL, "?")
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("the object store answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// partURL returns the URL of part i, asking the registry for the next
// URLs when it has none that lasts a while, or when fresh; done when the
// store already holds the part.
func (u *directUpload) partURL(ctx context.Context, i int, fresh bool) (pu direct.PartURL, done bool, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if size, ok := u.uploaded[i]; ok && size == u.partLen(i) {
		return pu, true, nil
	}
	if pu, ok := u.urls[i]; ok && !fresh && (pu.Expires.IsZero() || time.Until(pu.Expires) > time.Minute) {
		return pu, false, nil
	}
	s, err := u.p.directParts(ctx, u.loc, i, min(i+direct.MaxPartURLs-1, u.nparts))
	if err != nil {
		return pu, false, err
	}
	u.learn(s)
	if size, ok := u.uploaded[i]; ok && size == u.partLen(i) {
		return pu, true, nil
	}
	pu, ok := u.urls[i]
	if !ok {
		return pu, false, fmt.Errorf("the registry gave no URL for part %d", i)
	}
	return pu, false, nil
}
