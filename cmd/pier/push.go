package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/pier-registry/pier/internal/push"
)

// pushFlags are the flags of pier push and pier copy.
type pushFlags struct {
	jobs      int
	insecure  bool
	direct    bool
	directMin int64
	putMax    int64
	chunkSize int64
	retries   int
	quiet     bool
}

func (f *pushFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.jobs, "jobs", 4, "transfers at a time (direct parts, chunks, whole blobs); twice as many blobs are under way, so that while the registry checks one at its end another is sent")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP and unverified TLS to the registries (loopback registries may use plain HTTP without it)")
	fs.BoolVar(&f.direct, "direct", true, "use direct-to-S3 uploads when the registry offers them (--direct=false: standard uploads only)")
	fs.Int64Var(&f.directMin, "direct-min", 5<<20, "smallest blob, in bytes, sent by a direct upload; smaller ones go in one standard request")
	fs.Int64Var(&f.putMax, "direct-put-max", 1<<30, "largest blob, in bytes, whose direct upload gives its digest, so that the registry may take it in one PUT checked by the object store (no read-back); larger blobs go in parallel parts (0: always parts)")
	fs.Int64Var(&f.chunkSize, "chunk-size", 0, "largest chunk of a standard upload, in bytes (0: the registry's OCI-Chunk-Max-Length, or the whole blob in one request when it sets none)")
	fs.IntVar(&f.retries, "retries", 5, "how often a failed request, chunk or part is sent again (with backoff) before the push fails")
	fs.BoolVar(&f.quiet, "quiet", false, "show no progress; print only the pushed reference")
}

// pushCommand runs pier push (copy: false) or pier copy (copy: true).
func pushCommand(args []string, copy bool) error {
	cmd, what := "push", "SOURCE"
	if copy {
		cmd, what = "copy", "SOURCE-REF"
	}
	var f pushFlags
	fs := flag.NewFlagSet("pier "+cmd, flag.ContinueOnError)
	f.register(fs)
	fs.Usage = func() { pushUsage(fs.Output(), fs, cmd, what) }
	flags, positional := splitArgs(f.register, args)
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if len(positional) != 2 {
		fs.Usage()
		return fmt.Errorf("%s takes %s and DEST-REF", cmd, what)
	}
	if f.jobs < 1 || f.retries < 0 || f.chunkSize < 0 || f.putMax < 0 {
		return fmt.Errorf("--jobs must be at least 1, --retries, --chunk-size and --direct-put-max not negative")
	}
	var nopts []name.Option
	transport := http.DefaultTransport
	if f.insecure {
		nopts = append(nopts, name.Insecure)
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		transport = t
	}
	dest, err := name.ParseReference(positional[1], nopts...)
	if err != nil {
		return fmt.Errorf("destination %q: %w", positional[1], err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := push.Open(ctx, positional[0], push.OpenOptions{RegistryDefault: copy, Transport: transport, Name: nopts})
	if err != nil {
		return err
	}
	var progress io.Writer = os.Stderr
	if f.quiet {
		progress = nil
	}
	// Where uploads under way are kept, for the next push to continue.
	var stateDir string
	if dir, err := os.UserCacheDir(); err == nil {
		stateDir = filepath.Join(dir, "pier", "uploads")
	}
	start := time.Now()
	res, err := push.Push(ctx, src, dest, push.Options{
		Jobs: f.jobs, Direct: f.direct, DirectMin: f.directMin, DirectPutMax: f.putMax, ChunkSize: f.chunkSize,
		FinishWait: 10 * time.Minute, Transport: transport, Progress: progress, Retries: f.retries,
		StateDir: stateDir,
	})
	if err != nil {
		return fmt.Errorf("%s to %s: %w", cmd, dest, err)
	}
	if !f.quiet {
		fmt.Fprintf(os.Stderr, "pushed %s: %d blobs (%d sent, %d already there), %s in %s\n",
			dest, res.Blobs, res.Pushed, res.Blobs-res.Pushed, bytesText(res.Bytes), time.Since(start).Round(time.Millisecond))
	}
	fmt.Println(res.Ref)
	return nil
}

// bytesText is n bytes in MiB.
func bytesText(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func pushUsage(w io.Writer, fs *flag.FlagSet, cmd, what string) {
	if cmd == "push" {
		fmt.Fprint(w, `usage: pier push [flags] SOURCE DEST-REF

Pushes an image, an artifact or an index to a registry. SOURCE is
  oci:DIR[:TAG]              an OCI image layout (TAG: the image's ref.name
                             annotation; needed when the layout holds several)
  docker-archive:FILE[:TAG]  a docker save tarball (TAG: one of its repo:tag)
  docker://REF               an image in a registry (as pier copy)
  DIR                        an OCI image layout (it has an oci-layout file)
  FILE                       a docker save tarball
`)
	} else {
		fmt.Fprint(w, `usage: pier copy [flags] SOURCE-REF DEST-REF

Copies an image, an artifact or an index (every platform) from a registry
to another, or within one (blobs are mounted, not sent again). SOURCE-REF
may also be any SOURCE of pier push (oci:DIR, docker-archive:FILE).
`)
	}
	fmt.Fprint(w, `
DEST-REF is REGISTRY/REPOSITORY[:TAG|@DIGEST] (TAG: latest when none).
Credentials are docker's: ~/.docker/config.json ($DOCKER_CONFIG) and its
credential helpers (docker login). Blobs the repository holds are not sent;
the others go up in parallel, by direct-to-S3 uploads when the registry
offers them (Pier on AWS), else by standard uploads in chunks within the
registry's OCI-Chunk-Max-Length; a failed chunk or part is resumed, and
an upload a push could not finish is continued by the next push of the
blob to the repository (state in ~/.cache/pier/uploads). The
pushed reference with its digest is printed on standard output; progress
goes to standard error.

flags:
`)
	fs.PrintDefaults()
}
