package push

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Options are how a push goes.
type Options struct {
	// Jobs is how many transfers of bytes (direct parts, chunks, whole
	// blobs) go at a time over the whole push (at least 1); twice as many
	// blobs are under way, so that while the registry checks the bytes of
	// one at its end, another is sent.
	Jobs int
	// Direct asks the registry for direct uploads of blobs of at least
	// DirectMin bytes; a registry that does not offer them gets standard
	// uploads.
	Direct    bool
	DirectMin int64
	// DirectPutMax is the largest blob whose digest a direct upload
	// gives at its start, so that the registry may make it one PUT that
	// the object store checks (no read-back at the registry); larger
	// blobs go in parallel parts. 0: none.
	DirectPutMax int64
	// ChunkSize, when above 0, caps the chunks of standard uploads below
	// the registry's OCI-Chunk-Max-Length (0: the registry's limit alone).
	ChunkSize int64
	// FinishWait is how long the end of an upload may wait while the
	// registry answers 202 Retry-After.
	FinishWait time.Duration
	// Keychain finds the credentials of the registries
	// (authn.DefaultKeychain: docker's config.json and its helpers).
	Keychain authn.Keychain
	// Transport carries the requests (nil: http.DefaultTransport).
	Transport http.RoundTripper
	// Progress is where progress goes (nil: nowhere); Log is where the
	// retries are told (nil: to Progress).
	Progress io.Writer
	// Retries is how often a failed request, chunk or part is sent again
	// (0: never).
	Retries int
	// StateDir is where the state of uploads under way is kept, so that a
	// push that failed or was interrupted is continued by the next push
	// of the same blob to the same repository ("": not kept).
	StateDir string
}

// Result is what a push put in the registry.
type Result struct {
	// Ref is the destination with the pushed manifest's digest.
	Ref name.Digest
	// Blobs is how many blobs the pushed manifests name; Pushed, how
	// many of them were sent (not already there or mounted).
	Blobs, Pushed int
	// Bytes is the size of every blob named.
	Bytes int64
}

// pusher is one push.
type pusher struct {
	opts  Options
	src   Source
	reg   *registry
	prog  *progress
	slots chan struct{} // transfers of bytes under way
	// states keeps where uploads stand, for a later push to continue.
	states states
	// from is the source repository when it is in the destination
	// registry: blobs are mounted from it.
	from string
}

// Push copies src to dest: every blob not already in dest's repository,
// then the manifests, children before their index, the root last under
// dest's tag (or by digest, when dest is a digest, which must be the
// root's).
func Push(ctx context.Context, src Source, dest name.Reference, opts Options) (Result, error) {
	opts.Jobs = max(opts.Jobs, 1)
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	root := src.Root()
	if d, ok := dest.(name.Digest); ok && d.DigestStr() != root.Digest.String() {
		return Result{}, fmt.Errorf("destination %s names digest %s; the source is %s", dest, d.DigestStr(), root.Digest)
	}
	var mountFrom []name.Repository
	p := &pusher{opts: opts, src: src, slots: make(chan struct{}, opts.Jobs), states: states{opts.StateDir}}
	if r := src.Repository(); r != nil && r.RegistryStr() == dest.Context().RegistryStr() {
		mountFrom = append(mountFrom, *r)
		p.from = r.RepositoryStr()
	}
	reg, err := dial(ctx, dest.Context(), opts.Keychain, mountFrom, opts.Transport)
	if err != nil {
		return Result{}, err
	}
	reg.retries = max(opts.Retries, 0)
	p.reg = reg

	// Every manifest, children before parents, and every blob they name.
	var manifests []manifestJob
	var blobs []v1.Descriptor
	seen := map[v1.Hash]bool{}
	if err := p.walk(ctx, root, &manifests, &blobs, seen); err != nil {
		return Result{}, err
	}
	res := Result{Blobs: len(blobs)}
	for _, b := range blobs {
		res.Bytes += b.Size
	}

	p.prog = newProgress(opts.Progress, 200*time.Millisecond)
	pushed, err := p.pushBlobs(ctx, blobs)
	p.prog.close()
	if err != nil {
		return Result{}, err
	}
	res.Pushed = pushed
	for i, m := range manifests {
		ref := m.desc.Digest.String()
		if i == len(manifests)-1 {
			ref = dest.Identifier()
		}
		if err := p.putManifest(ctx, m, ref); err != nil {
			return Result{}, err
		}
	}
	res.Ref = dest.Context().Digest(root.Digest.String())
	return res, nil
}

// manifestJob is a manifest to put.
type manifestJob struct {
	desc v1.Descriptor
	raw  []byte
}

// walk adds the manifest d, after its children, to manifests, and the
// blobs they name (each once) to blobs.
func (p *pusher) walk(ctx context.Context, d v1.Descriptor, manifests *[]manifestJob, blobs *[]v1.Descriptor, seen map[v1.Hash]bool) error {
	if seen[d.Digest] {
		return nil
	}
	seen[d.Digest] = true
	raw, err := p.src.Manifest(ctx, d)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if got, _, err := v1.SHA256(bytes.NewReader(raw)); err != nil || got != d.Digest {
		return fmt.Errorf("manifest %s: its bytes hash to %s", d.Digest, got)
	}
	m, err := parseManifest(raw)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if d.MediaType == "" {
		d.MediaType = m.MediaType
	}
	for _, c := range m.Manifests {
		if err := p.walk(ctx, c, manifests, blobs, seen); err != nil {
			return err
		}
	}
	for _, b := range m.blobs() {
		if !seen[b.Digest] {
			seen[b.Digest] = true
			*blobs = append(*blobs, b)
		}
	}
	*manifests = append(*manifests, manifestJob{desc: d, raw: raw})
	return nil
}

// pushBlobs pushes blobs, 2×Jobs at a time, and returns how many it sent.
func (p *pusher) pushBlobs(ctx context.Context, blobs []v1.Descriptor) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		first  error
		pushed int
		wg     sync.WaitGroup
	)
	jobs := make([]blobJob, len(blobs))
	for i, d := range blobs {
		jobs[i] = blobJob{desc: d, from: p.from, prog: p.prog.blob(d.Digest, d.Size),
			open: func(ctx context.Context) (io.ReadCloser, error) { return p.src.Blob(ctx, d) }}
	}
	work := make(chan blobJob)
	// Twice as many blobs as transfers: while the registry checks the
	// bytes of one at its end, another is sent.
	for range min(2*p.opts.Jobs, len(blobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range work {
				d := job.desc
				job.prog.begin()
				err := p.pushBlob(ctx, job)
				if err == nil {
					p.states.drop(p.reg.repo, d.Digest)
				}
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("blob %s (%s): %w", d.Digest, bytesString(d.Size), err)
					cancel()
				}
				if err == nil && job.prog.sent() {
					pushed++
				}
				mu.Unlock()
			}
		}()
	}
	for _, job := range jobs {
		select {
		case work <- job:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(work)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return pushed, first
}

// putManifest puts the manifest of m under ref (a tag or its digest).
func (p *pusher) putManifest(ctx context.Context, m manifestJob, ref string) error {
	hdr := http.Header{"Content-Type": {string(m.desc.MediaType)}}
	resp, err := p.reg.send(ctx, request{method: http.MethodPut, loc: p.reg.path("manifests/" + ref), header: hdr, body: m.raw},
		http.StatusCreated)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", m.desc.Digest, err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != m.desc.Digest.String() {
		return fmt.Errorf("manifest %s: the registry stored it as %s", m.desc.Digest, got)
	}
	return nil
}

// acquire takes a slot for a transfer of bytes.
func (p *pusher) acquire(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release gives a slot back.
func (p *pusher) release() { <-p.slots }

// logf tells of a retry.
func (p *pusher) logf(format string, args ...any) {
	p.prog.mu.Lock()
	defer p.prog.mu.Unlock()
	fmt.Fprintf(p.prog.w, format+"\n", args...)
	p.prog.drawn = 0
}
