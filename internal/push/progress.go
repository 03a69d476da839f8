package push

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// progress shows how a push goes: on a terminal, a line per blob under way
// and the total, redrawn in place; elsewhere, a line per blob when it is
// done.
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time

	mu      sync.Mutex
	blobs   []*blobProgress
	printed int // blobs[:printed] whose final line is out
	drawn   int // lines of the live block on the terminal
	stop    chan struct{}
	stopped chan struct{}
}

// blobProgress is one blob's part of the progress.
type blobProgress struct {
	p      *progress
	digest v1.Hash
	size   int64
	n      atomic.Int64
	note   atomic.Pointer[string] // how it ended; nil while under way
	// skipped: the registry had the blob, or mounted it.
	skipped atomic.Bool
	started atomic.Bool
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newProgress shows progress on w, redrawn every interval on a terminal.
func newProgress(w io.Writer, interval time.Duration) *progress {
	p := &progress{w: w, tty: isTerminal(w), start: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(p.stopped)
		if !p.tty {
			<-p.stop
			return
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.draw()
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

// blob adds a blob of size to the progress.
func (p *progress) blob(d v1.Hash, size int64) *blobProgress {
	b := &blobProgress{p: p, digest: d, size: size}
	p.mu.Lock()
	p.blobs = append(p.blobs, b)
	p.mu.Unlock()
	return b
}

// close draws the last state.
func (p *progress) close() {
	close(p.stop)
	<-p.stopped
}

// totals are the bytes sent and to send.
func (p *progress) totals() (n, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.blobs {
		n += b.n.Load()
		size += b.size
	}
	return n, size
}

// draw prints the blobs done since the last draw, then the blobs under
// way and the total in place of the last ones.
func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	// Done blobs first, each once, in the order they finished.
	var live []*blobProgress
	var n, size int64
	for i, b := range p.blobs {
		n += b.n.Load()
		size += b.size
		if i < p.printed {
			continue
		}
		if b.note.Load() != nil {
			fmt.Fprintf(p.w, "\x1b[2K%s\n", b.line())
			p.blobs[p.printed], p.blobs[i] = p.blobs[i], p.blobs[p.printed]
			p.printed++
			continue
		}
		if b.started.Load() {
			live = append(live, b)
		}
	}
	for _, b := range live {
		fmt.Fprintf(p.w, "\x1b[2K%s\n", b.line())
	}
	fmt.Fprintf(p.w, "\x1b[2K%s\n", totalLine(n, size, time.Since(p.start)))
	p.drawn = len(live) + 1
	// Lines left below by a longer block before.
	fmt.Fprint(p.w, "\x1b[J")
}

// line is the blob's progress line.
func (b *blobProgress) line() string {
	s := fmt.Sprintf("%s %10s / %-10s", short(b.digest), bytesString(b.n.Load()), bytesString(b.size))
	if note := b.note.Load(); note != nil {
		return s + " " + *note
	}
	if b.size > 0 {
		return fmt.Sprintf("%s %3d%%", s, b.n.Load()*100/b.size)
	}
	return s
}

// totalLine says how much of the push is done, and how fast.
func totalLine(n, size int64, took time.Duration) string {
	rate := float64(n) / max(took.Seconds(), 0.001)
	return fmt.Sprintf("total %s / %s (%s/s, %s)", bytesString(n), bytesString(size), bytesString(int64(rate)), took.Round(100*time.Millisecond))
}

// begin says the blob's push has started.
func (b *blobProgress) begin() { b.started.Store(true) }

// add counts n more bytes sent (fewer, when n < 0).
func (b *blobProgress) add(n int64) { b.n.Add(n) }

// set says n bytes of the blob are sent.
func (b *blobProgress) set(n int64) { b.n.Store(n) }

// finish says the blob is in the registry, and how it got there.
func (b *blobProgress) finish(how string) {
	b.n.Store(b.size)
	b.note.Store(&how)
	if !b.p.tty {
		b.p.mu.Lock()
		fmt.Fprintln(b.p.w, b.line())
		b.p.mu.Unlock()
	}
}

// skip says the blob needed no upload, and why.
func (b *blobProgress) skip(why string) {
	b.skipped.Store(true)
	b.finish(why)
}

// sent reports whether the blob was uploaded.
func (b *blobProgress) sent() bool { return !b.skipped.Load() }

// reader counts the bytes read from rc.
func (b *blobProgress) reader(rc io.ReadCloser) io.ReadCloser {
	return readCloser{&counter{r: rc, prog: b}, rc}
}

// counter counts the bytes read through it into a blob's progress.
type counter struct {
	r    io.Reader
	prog *blobProgress
	n    int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.prog.add(int64(n))
	return n, err
}

// short is a digest cut for display.
func short(d v1.Hash) string {
	if len(d.Hex) > 12 {
		return d.Algorithm + ":" + d.Hex[:12]
	}
	return d.String()
}

// bytesString is n bytes for people: 1.5 MiB.
func bytesString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
