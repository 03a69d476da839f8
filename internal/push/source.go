package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Source is what a push reads: a manifest (an image, an artifact or an
// index) with everything it names.
type Source interface {
	// Root is the descriptor of the manifest to push.
	Root() v1.Descriptor
	// Manifest returns the bytes of the manifest d (the root or a child of
	// an index).
	Manifest(ctx context.Context, d v1.Descriptor) ([]byte, error)
	// Blob opens the bytes of the blob d (a config or a layer). The reader
	// may be an io.ReaderAt (a file), which lets parts be read in parallel.
	Blob(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error)
	// Repository is the registry repository the source is, for mounts
	// within one registry; nil for a local source.
	Repository() *name.Repository
}

// OpenOptions are how Open reads a source.
type OpenOptions struct {
	// RegistryDefault: a spec without a prefix is a registry reference.
	RegistryDefault bool
	// Keychain has the credentials of a source registry (nil:
	// authn.DefaultKeychain), Transport carries its requests (nil:
	// http.DefaultTransport), and Name are the options of its references
	// (name.Insecure).
	Keychain  authn.Keychain
	Transport http.RoundTripper
	Name      []name.Option
}

// refNameAnnotation names an image of an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Open opens the source spec names:
//
//	oci:DIR[:TAG]                 an OCI image layout (TAG: its ref.name)
//	docker-archive:FILE[:TAG]     a docker save tarball (TAG: repo:tag in it)
//	docker://REF                  an image in a registry
//	DIR (with an oci-layout file) an OCI image layout
//	FILE                          a docker save tarball
//
// With o.RegistryDefault, a spec without a prefix is a registry reference.
func Open(ctx context.Context, spec string, o OpenOptions) (Source, error) {
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport
	}
	switch {
	case strings.HasPrefix(spec, "oci:"):
		dir, tag := splitTag(strings.TrimPrefix(spec, "oci:"))
		return openLayout(dir, tag)
	case strings.HasPrefix(spec, "docker-archive:"):
		file, tag := splitTag(strings.TrimPrefix(spec, "docker-archive:"))
		return openTarball(file, tag)
	case strings.HasPrefix(spec, "docker://"):
		return openRemote(ctx, strings.TrimPrefix(spec, "docker://"), o)
	case o.RegistryDefault:
		return openRemote(ctx, spec, o)
	}
	fi, err := os.Stat(spec)
	switch {
	case err != nil:
		return nil, fmt.Errorf("source %s: %w (a source is oci:DIR[:TAG], docker-archive:FILE[:TAG] or docker://REF)", spec, err)
	case fi.IsDir():
		return openLayout(spec, "")
	default:
		return openTarball(spec, "")
	}
}

// splitTag splits PATH[:TAG] at the first colon after which the path
// exists (a tag may hold colons: repo:tag); with none, s is the path.
func splitTag(s string) (path, tag string) {
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		if _, err := os.Stat(s[:i]); err == nil {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// layoutSource is an OCI image layout.
type layoutSource struct {
	path layout.Path
	root v1.Descriptor
}

func openLayout(dir, tag string) (Source, error) {
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout: %w", dir, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(raw, &index); err != nil {
		return nil, fmt.Errorf("OCI layout %s: index.json: %w", dir, err)
	}
	var found []v1.Descriptor
	var tags []string
	for _, d := range index.Manifests {
		t := d.Annotations[refNameAnnotation]
		if t != "" {
			tags = append(tags, t)
		}
		if tag == "" || t == tag {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 1:
		return &layoutSource{path: layout.Path(dir), root: found[0]}, nil
	case len(found) == 0 && tag != "":
		return nil, fmt.Errorf("OCI layout %s has no manifest tagged %q (its tags: %s)", dir, tag, strings.Join(tags, ", "))
	case len(found) == 0:
		return nil, fmt.Errorf("OCI layout %s holds no manifest", dir)
	default:
		return nil, fmt.Errorf("OCI layout %s holds %d manifests: name one as oci:%s:TAG (its tags: %s)", dir, len(found), dir, strings.Join(tags, ", "))
	}
}

func (s *layoutSource) Root() v1.Descriptor          { return s.root }
func (s *layoutSource) Repository() *name.Repository { return nil }

func (s *layoutSource) Manifest(_ context.Context, d v1.Descriptor) ([]byte, error) {
	return s.path.Bytes(d.Digest)
}

func (s *layoutSource) Blob(_ context.Context, d v1.Descriptor) (io.ReadCloser, error) {
	return s.path.Blob(d.Digest)
}

// tarballSource is one image of a docker save tarball; its manifest is
// made from the tarball's manifest.json, as docker load would.
type tarballSource struct {
	img      v1.Image
	root     v1.Descriptor
	manifest []byte
	config   v1.Hash
}

func openTarball(file, tag string) (Source, error) {
	var t *name.Tag
	if tag != "" {
		nt, err := name.NewTag(tag)
		if err != nil {
			return nil, fmt.Errorf("docker archive %s: tag %q: %w", file, tag, err)
		}
		t = &nt
	}
	img, err := tarball.ImageFromPath(file, t)
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", file, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", file, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", file, err)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", file, err)
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return &tarballSource{img: img, manifest: raw, config: cfg,
		root: v1.Descriptor{MediaType: mt, Digest: h, Size: size}}, nil
}

func (s *tarballSource) Root() v1.Descriptor          { return s.root }
func (s *tarballSource) Repository() *name.Repository { return nil }

func (s *tarballSource) Manifest(_ context.Context, d v1.Descriptor) ([]byte, error) {
	if d.Digest != s.root.Digest {
		return nil, fmt.Errorf("docker archive: no manifest %s", d.Digest)
	}
	return s.manifest, nil
}

func (s *tarballSource) Blob(_ context.Context, d v1.Descriptor) (io.ReadCloser, error) {
	if d.Digest == s.config {
		b, err := s.img.RawConfigFile()
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	l, err := s.img.LayerByDigest(d.Digest)
	if err != nil {
		return nil, err
	}
	return l.Compressed()
}

// remoteSource is a manifest in a registry.
type remoteSource struct {
	repo name.Repository
	root v1.Descriptor
	raw  []byte
	opts []remote.Option
}

func openRemote(ctx context.Context, ref string, o OpenOptions) (Source, error) {
	r, err := name.ParseReference(ref, o.Name...)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", ref, err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(o.Keychain), remote.WithTransport(o.Transport)}
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", r, err)
	}
	return &remoteSource{repo: r.Context(), root: desc.Descriptor, raw: desc.Manifest, opts: opts}, nil
}

func (s *remoteSource) Root() v1.Descriptor          { return s.root }
func (s *remoteSource) Repository() *name.Repository { return &s.repo }

func (s *remoteSource) Manifest(ctx context.Context, d v1.Descriptor) ([]byte, error) {
	if d.Digest == s.root.Digest {
		return s.raw, nil
	}
	desc, err := remote.Get(s.repo.Digest(d.Digest.String()), append(s.opts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, err
	}
	return desc.Manifest, nil
}

func (s *remoteSource) Blob(ctx context.Context, d v1.Descriptor) (io.ReadCloser, error) {
	l, err := remote.Layer(s.repo.Digest(d.Digest.String()), append(s.opts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, err
	}
	return l.Compressed()
}

// parsedManifest is what a push needs of a manifest: what it names.
type parsedManifest struct {
	MediaType types.MediaType `json:"mediaType"`
	Config    *v1.Descriptor  `json:"config"`
	Layers    []v1.Descriptor `json:"layers"`
	Blobs     []v1.Descriptor `json:"blobs"`     // the draft artifact manifest
	Manifests []v1.Descriptor `json:"manifests"` // an index
}

// parseManifest reads what raw (a manifest of media type mt) names.
func parseManifest(raw []byte) (parsedManifest, error) {
	var m parsedManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("not a manifest: %w", err)
	}
	return m, nil
}

// blobs are the blobs m names that a registry must hold: its config and
// its distributable layers.
func (m parsedManifest) blobs() []v1.Descriptor {
	var out []v1.Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	for _, l := range slices.Concat(m.Layers, m.Blobs) {
		if l.MediaType.IsDistributable() {
			out = append(out, l)
		}
	}
	return out
}
