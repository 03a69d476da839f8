package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pier-registry/pier/internal/ctxsleep"
	"github.com/pier-registry/pier/internal/direct"
)

// blobJob is one blob to push.
type blobJob struct {
	desc v1.Descriptor
	open func(ctx context.Context) (io.ReadCloser, error)
	prog *blobProgress
	// from is a repository of the same registry that holds the blob, to
	// mount it from; empty when there is none.
	from string
}

// exists reports whether the repository holds the blob d.
func (p *pusher) exists(ctx context.Context, d v1.Hash) (bool, error) {
	resp, err := p.reg.send(ctx, request{method: http.MethodHead, loc: p.reg.path("blobs/" + d.String())},
		http.StatusOK, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// pushBlob puts the blob of b in the repository, unless it is there: by a
// mount, a direct upload or a standard one.
func (p *pusher) pushBlob(ctx context.Context, b blobJob) error {
	d := b.desc.Digest.String()
	if ok, err := p.exists(ctx, b.desc.Digest); err != nil {
		return err
	} else if ok {
		b.prog.skip("exists")
		return nil
	}
	if b.from != "" {
		resp, err := p.reg.send(ctx, request{method: http.MethodPost,
			loc: p.reg.path("blobs/uploads/?mount=" + d + "&from=" + b.from)},
			http.StatusCreated, http.StatusAccepted)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			b.prog.skip("mounted from " + b.from)
			return nil
		}
		// Not mounted: the registry opened an upload instead, which this
		// push does not use.
		if loc := resp.Header.Get("Location"); loc != "" {
			if r, err := p.reg.do(ctx, http.MethodDelete, loc, nil, nil); err == nil {
				r.Body.Close()
			}
		}
	}
	if st, ok := p.states.load(p.reg.repo, b.desc.Digest); ok && st.Size == b.desc.Size {
		resumed, err := p.resume(ctx, b, st)
		if resumed || ctx.Err() != nil {
			return err
		}
		p.states.drop(p.reg.repo, b.desc.Digest)
		p.logf("%s: the upload of an earlier push is gone (%v); starting another", short(b.desc.Digest), err)
	}
	wantDirect := p.opts.Direct && b.desc.Size >= p.opts.DirectMin
	hdr := http.Header{}
	if wantDirect {
		hdr.Set(direct.ModeHeader, direct.Mode)
		hdr.Set(direct.LengthHeader, strconv.FormatInt(b.desc.Size, 10))
		if b.desc.Size <= p.opts.DirectPutMax && b.desc.Digest.Algorithm == "sha256" {
			hdr.Set(direct.DigestHeader, b.desc.Digest.String())
		}
	}
	resp, err := p.reg.send(ctx, request{method: http.MethodPost, loc: p.reg.path("blobs/uploads/"), header: hdr},
		http.StatusAccepted)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return fmt.Errorf("the registry started an upload without a Location")
	}
	if wantDirect && resp.Header.Get(direct.ModeHeader) == direct.Mode {
		return p.pushDirect(ctx, b, loc, resp.Body)
	}
	return p.pushStandard(ctx, b, loc, chunkLimits(resp.Header))
}

// limits are the chunk lengths an upload session takes.
type limits struct{ min, max int64 }

// chunkLimits reads OCI-Chunk-Min-Length and OCI-Chunk-Max-Length.
func chunkLimits(h http.Header) limits {
	var l limits
	l.min, _ = strconv.ParseInt(h.Get("OCI-Chunk-Min-Length"), 10, 64)
	l.max, _ = strconv.ParseInt(h.Get("OCI-Chunk-Max-Length"), 10, 64)
	return l
}

// chunkSize is the length of the chunks of a blob of size: the registry's
// maximum, or the whole blob (one monolithic PUT) when there is none or
// the blob fits in it; never under the registry's minimum but for the
// last chunk.
func (l limits) chunkSize(size int64, want int64) int64 {
	n := size
	if want > 0 {
		n = min(n, want)
	}
	if l.max > 0 {
		n = min(n, l.max)
	}
	if l.min > 0 && n < l.min {
		n = min(l.min, size)
	}
	return max(n, 1)
}

// resume continues the upload of an earlier push that st describes, from
// what the registry holds of it; resumed is false when the registry no
// longer knows the upload (it expired, ended, or is another's).
func (p *pusher) resume(ctx context.Context, b blobJob, st uploadState) (resumed bool, err error) {
	if st.Direct {
		if st.PartSize <= 0 {
			return false, fmt.Errorf("bad part size %d", st.PartSize)
		}
		n := int((st.Size + st.PartSize - 1) / st.PartSize)
		s, err := p.directParts(ctx, st.Location, 1, min(n, direct.MaxPartURLs))
		if err != nil {
			return false, err
		}
		p.logf("%s: continuing the direct upload of an earlier push (%d of %d parts there)", short(b.desc.Digest), len(s.Uploaded), n)
		return true, p.runDirect(ctx, b, st.Location, s)
	}
	got, loc, err := p.uploadStatus(ctx, st.Location)
	if err != nil {
		return false, err
	}
	p.logf("%s: continuing the upload of an earlier push at byte %d of %d", short(b.desc.Digest), got, st.Size)
	b.prog.set(got)
	return true, p.pushChunks(ctx, b, loc, limits{st.Min, st.Max}, got)
}

// pushStandard sends the blob on the upload at loc: in one PUT when it
// fits in a request, else in PATCH chunks.
func (p *pusher) pushStandard(ctx context.Context, b blobJob, loc string, lim limits) error {
	size := b.desc.Size
	if lim.chunkSize(size, p.opts.ChunkSize) >= size {
		// One request: the upload's bytes and its end.
		if err := p.finishUpload(ctx, b, loc, size); err != nil {
			return err
		}
		b.prog.finish("pushed")
		return nil
	}
	return p.pushChunks(ctx, b, loc, lim, 0)
}

// pushChunks sends the blob from off on the upload at loc in PATCH
// chunks, then ends it. A failed chunk is resumed from what the registry
// holds (GET of the upload: Range), and where the upload stands is kept
// for a later push (states).
func (p *pusher) pushChunks(ctx context.Context, b blobJob, loc string, lim limits, off int64) error {
	size := b.desc.Size
	chunk := lim.chunkSize(size, p.opts.ChunkSize)
	keep := func() {
		p.states.save(p.reg.repo, b.desc.Digest, uploadState{Location: loc, Size: size, Min: lim.min, Max: lim.max})
	}
	keep()
	failures := 0
	for off < size {
		n := min(chunk, size-off)
		next, err := p.patch(ctx, b, loc, off, n)
		if err == nil {
			loc, off = next, off+n
			failures = 0
			keep()
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures++
		if failures > p.reg.retries {
			return fmt.Errorf("chunk %d-%d: %w", off, off+n-1, err)
		}
		if err := p.reg.pause(ctx, failures); err != nil {
			return err
		}
		// Resume from what the registry holds.
		got, at, serr := p.uploadStatus(ctx, loc)
		if serr != nil {
			return fmt.Errorf("chunk %d-%d: %w; then the upload's status: %w", off, off+n-1, err, serr)
		}
		p.logf("%s: chunk at %d failed (%v); resuming at %d", short(b.desc.Digest), off, err, got)
		loc, off = at, got
		b.prog.set(off)
	}
	if err := p.putDigest(ctx, b, loc, nil); err != nil {
		return err
	}
	b.prog.finish("pushed")
	return nil
}

// patch sends n bytes of the blob from off as a chunk of the upload at
// loc, and returns the upload's next location.
func (p *pusher) patch(ctx context.Context, b blobJob, loc string, off, n int64) (string, error) {
	body := func() (io.ReadCloser, error) {
		rc, err := openAt(ctx, b, off, n)
		if err != nil {
			return nil, err
		}
		b.prog.set(off)
		return b.prog.reader(rc), nil
	}
	u, err := p.reg.url(loc)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, nil)
	if err != nil {
		return "", err
	}
	if req.Body, err = body(); err != nil {
		return "", err
	}
	req.ContentLength = n
	req.GetBody = body
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+n-1))
	resp, err := p.sendBytes(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := checkStatus(resp, http.StatusAccepted); err != nil {
		return "", err
	}
	return orLocation(resp, loc), nil
}

// uploadStatus asks the registry how many bytes the upload at loc holds.
func (p *pusher) uploadStatus(ctx context.Context, loc string) (int64, string, error) {
	resp, err := p.reg.send(ctx, request{method: http.MethodGet, loc: loc}, http.StatusNoContent)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	r := resp.Header.Get("Range")
	if r == "" {
		return 0, orLocation(resp, loc), nil
	}
	_, end, ok := strings.Cut(r, "-")
	e, err := strconv.ParseInt(end, 10, 64)
	if !ok || err != nil {
		return 0, "", fmt.Errorf("upload status: bad Range %q", r)
	}
	return e + 1, orLocation(resp, loc), nil
}

// finishUpload sends the whole blob in the PUT that ends the upload at
// loc, again on a new upload when it fails.
func (p *pusher) finishUpload(ctx context.Context, b blobJob, loc string, size int64) error {
	for attempt := 0; ; attempt++ {
		err := p.putDigest(ctx, b, loc, func() (io.ReadCloser, error) {
			rc, err := openAt(ctx, b, 0, size)
			if err != nil {
				return nil, err
			}
			b.prog.set(0)
			return b.prog.reader(rc), nil
		})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || attempt >= p.reg.retries || !retriable(err) {
			return err
		}
		if err := p.reg.pause(ctx, attempt+1); err != nil {
			return err
		}
		// The failed upload may be gone: start another.
		resp, err := p.reg.send(ctx, request{method: http.MethodPost, loc: p.reg.path("blobs/uploads/")}, http.StatusAccepted)
		if err != nil {
			return err
		}
		resp.Body.Close()
		loc = resp.Header.Get("Location")
	}
}

// putDigest ends the upload at loc with PUT ?digest=, with the blob's
// bytes from body (nil: the upload holds every byte already), and waits
// while the registry answers 202 with Retry-After (it is still checking
// the bytes). Without a body, a PUT that failed on the way or got a
// temporary error is sent again: it is idempotent.
func (p *pusher) putDigest(ctx context.Context, b blobJob, loc string, body func() (io.ReadCloser, error)) error {
	u, err := p.reg.url(withQuery(loc, "digest", b.desc.Digest.String()))
	if err != nil {
		return err
	}
	var waited time.Duration
	for failures := 0; ; {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, nil)
		if err != nil {
			return err
		}
		if body != nil {
			if req.Body, err = body(); err != nil {
				return err
			}
			req.GetBody = body
			req.ContentLength = b.desc.Size
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		do := p.reg.api.Do
		if body != nil {
			do = p.sendBytes
		}
		resp, err := do(req)
		if err == nil && resp.StatusCode == http.StatusAccepted && waited < p.opts.FinishWait {
			// Retry-After: 0 asks again at once; a short pause keeps that
			// from spinning.
			d := max(retryAfter(resp, time.Second), 250*time.Millisecond)
			resp.Body.Close()
			if err := ctxsleep.Sleep(ctx, d); err != nil {
				return err
			}
			waited += d
			continue
		}
		if err == nil {
			err = checkStatus(resp, http.StatusCreated)
			resp.Body.Close()
			if err == nil {
				return nil
			}
		}
		failures++
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if body != nil || failures > p.reg.retries || !retriable(err) {
			return err
		}
		if err := p.reg.pause(ctx, failures); err != nil {
			return err
		}
	}
}

// sendBytes sends req, which carries a blob's bytes, in one of the push's
// transfer slots.
func (p *pusher) sendBytes(req *http.Request) (*http.Response, error) {
	if err := p.acquire(req.Context()); err != nil {
		req.Body.Close()
		return nil, err
	}
	defer p.release()
	return p.reg.api.Do(req)
}

// checkStatus is nil when resp's status is one of ok, else the
// registry's error: its OCI error codes and messages.
func checkStatus(resp *http.Response, ok ...int) error {
	return transport.CheckError(resp, ok...)
}

// retriable reports whether a request that failed with err may succeed
// when sent again: it failed on the way, or the registry answered with a
// temporary error.
func retriable(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return temporary(te.StatusCode)
	}
	return true
}

// openAt opens n bytes of the blob of b from off.
func openAt(ctx context.Context, b blobJob, off, n int64) (io.ReadCloser, error) {
	rc, err := b.open(ctx)
	if err != nil {
		return nil, err
	}
	if ra, ok := rc.(io.ReaderAt); ok {
		return readCloser{io.NewSectionReader(ra, off, n), rc}, nil
	}
	if s, ok := rc.(io.Seeker); ok {
		if _, err := s.Seek(off, io.SeekStart); err != nil {
			rc.Close()
			return nil, err
		}
	} else if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		rc.Close()
		return nil, fmt.Errorf("skipping to %d: %w", off, err)
	}
	return readCloser{io.LimitReader(rc, n), rc}, nil
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// orLocation is the Location of resp, else loc.
func orLocation(resp *http.Response, loc string) string {
	if l := resp.Header.Get("Location"); l != "" {
		return l
	}
	return loc
}

// hasCode reports whether err is the registry's error with the OCI error
// code code.
func hasCode(err error, code transport.ErrorCode) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}
