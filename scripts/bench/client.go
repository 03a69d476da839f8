package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// client speaks the distribution API over plain HTTP, as a registry client
// does: no auth (every target runs open).
type client struct {
	base string // http://127.0.0.1:PORT
	hc   *http.Client

	mu       sync.Mutex
	bearer   string // the token of login, sent to the registry; "": none
	requests int    // requests to the registry (not to S3)
	metered  int    // the same as API Gateway meters an HTTP API: per started 512 KiB
}

// take returns the requests made to the registry since the last take.
func (c *client) take() (requests, metered int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	requests, metered = c.requests, c.metered
	c.requests, c.metered = 0, 0
	return requests, metered
}

func newClient(base string) *client {
	return &client{base: base, hc: &http.Client{
		Timeout: 10 * time.Minute,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 64,
			DisableCompression:  true,
		},
	}}
}

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Subject       *descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

const (
	mtManifest = "application/vnd.oci.image.manifest.v1+json"
	mtConfig   = "application/vnd.oci.image.config.v1+json"
	mtLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtEmpty    = "application/vnd.oci.empty.v1+json"
	mtIndex    = "application/vnd.oci.image.index.v1+json"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func desc(mt string, b []byte) descriptor {
	return descriptor{MediaType: mt, Digest: digestOf(b), Size: int64(len(b))}
}

// randomBytes returns n bytes that differ for every seed, so that no run
// finds a blob of an earlier one already stored.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	key[8] = 0x5a
	r := rand.NewChaCha8(key)
	b := make([]byte, n)
	r.Read(b)
	return b
}

func (c *client) do(method, u string, body []byte, hdr map[string]string) (*http.Response, []byte, error) {
	if !strings.HasPrefix(u, "http") {
		u = c.base + u
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.ContentLength = int64(len(body))
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c.mu.Lock()
	if c.bearer != "" && strings.HasPrefix(u, c.base) {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	c.mu.Unlock()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	// Redirects to S3 are followed by the same Do: only the first
	// request went to the registry, and its answer was a redirect.
	if strings.HasPrefix(u, c.base) {
		size := len(body)
		if resp.Request.URL.Host == req.URL.Host {
			size += len(b)
		}
		c.mu.Lock()
		c.requests++
		c.metered += max(1, (size+512<<10-1)/(512<<10))
		c.mu.Unlock()
	}
	return resp, b, err
}

// login asks the registry's token endpoint (Pier's /v2/token) for a token
// that may push and pull repos, with Basic credentials, as a client does
// after a 401, and sends it with every later request to the registry.
// (The large suite only pushes: Go would send the token along a redirect
// to a presigned URL on the same host, which S3 refuses.)
func (c *client) login(user, pass string, repos ...string) error {
	q := url.Values{"service": {"pier"}}
	for _, r := range repos {
		q.Add("scope", "repository:"+r+":pull,push")
	}
	req, err := http.NewRequest(http.MethodGet, c.base+"/v2/token?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(user, pass)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.requests++
	c.metered++
	c.mu.Unlock()
	if err := expect(resp, b, "token GET", http.StatusOK); err != nil {
		return err
	}
	var tok struct{ Token string }
	if err := json.Unmarshal(b, &tok); err != nil || tok.Token == "" {
		return fmt.Errorf("token GET: no token in %.200s", b)
	}
	c.mu.Lock()
	c.bearer = tok.Token
	c.mu.Unlock()
	return nil
}

func expect(resp *http.Response, b []byte, what string, codes ...int) error {
	for _, c := range codes {
		if resp.StatusCode == c {
			return nil
		}
	}
	return fmt.Errorf("%s: HTTP %d: %.300s", what, resp.StatusCode, b)
}

// location resolves an upload's Location header against the request URL.
func location(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("no Location in the answer")
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func withQuery(u, k, v string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + k + "=" + url.QueryEscape(v)
}

// pushBlob pushes a blob as a client does: HEAD, then POST an upload and
// PUT the bytes with the digest. It skips the upload when the HEAD finds
// the blob.
func (c *client) pushBlob(repo string, b []byte) error {
	d := digestOf(b)
	resp, body, err := c.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d, nil, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	if err := expect(resp, body, "blob HEAD", http.StatusNotFound); err != nil {
		return err
	}
	loc, mx, err := c.startUpload(repo)
	if err != nil {
		return err
	}
	// A registry that limits request bodies (the Lambda path: 4 MiB)
	// says so; a client then sends the blob in chunks of that size.
	if mx > 0 && len(b) > mx {
		return c.pushChunks(loc, b, mx)
	}
	resp, body, err = c.do(http.MethodPut, withQuery(loc, "digest", d), b,
		map[string]string{"Content-Type": "application/octet-stream"})
	if err != nil {
		return err
	}
	return expect(resp, body, "upload PUT", http.StatusCreated)
}

// startUpload POSTs a new upload to repo and returns its location and
// the largest request body the registry takes (OCI-Chunk-Max-Length; 0:
// no limit).
func (c *client) startUpload(repo string) (loc string, maxChunk int, err error) {
	resp, body, err := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if err != nil {
		return "", 0, err
	}
	if err := expect(resp, body, "upload POST", http.StatusAccepted); err != nil {
		return "", 0, err
	}
	loc, err = location(resp)
	maxChunk, _ = strconv.Atoi(resp.Header.Get("OCI-Chunk-Max-Length"))
	return loc, maxChunk, err
}

// pushChunked pushes a blob in PATCHes of chunk bytes, then PUT ?digest=.
func (c *client) pushChunked(repo string, b []byte, chunk int) error {
	loc, _, err := c.startUpload(repo)
	if err != nil {
		return err
	}
	return c.pushChunks(loc, b, chunk)
}

// pushChunks sends b to the upload at loc in PATCHes of chunk bytes, then
// finishes it with PUT ?digest=.
func (c *client) pushChunks(loc string, b []byte, chunk int) error {
	for off := 0; off < len(b); off += chunk {
		end := min(off+chunk, len(b))
		resp, body, err := c.do(http.MethodPatch, loc, b[off:end], map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("%d-%d", off, end-1),
		})
		if err != nil {
			return err
		}
		if err := expect(resp, body, "upload PATCH", http.StatusAccepted); err != nil {
			return err
		}
		if loc, err = location(resp); err != nil {
			return err
		}
	}
	resp, body, err := c.do(http.MethodPut, withQuery(loc, "digest", digestOf(b)), nil, nil)
	if err != nil {
		return err
	}
	return expect(resp, body, "upload finish PUT", http.StatusCreated)
}

func (c *client) putManifest(repo, ref string, m []byte) error {
	resp, body, err := c.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, m,
		map[string]string{"Content-Type": mtManifest})
	if err != nil {
		return err
	}
	return expect(resp, body, "manifest PUT", http.StatusCreated)
}

// image is one image's blobs and manifest.
type image struct {
	config   []byte
	layers   [][]byte
	manifest []byte
}

func makeImage(seed uint64, layerSizes ...int) image {
	im := image{config: []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]},"bench":%d}`, seed))}
	m := manifest{SchemaVersion: 2, MediaType: mtManifest, Config: desc(mtConfig, im.config)}
	for i, n := range layerSizes {
		l := randomBytes(seed*64+uint64(i)+1, n)
		im.layers = append(im.layers, l)
		m.Layers = append(m.Layers, desc(mtLayer, l))
	}
	im.manifest, _ = json.Marshal(m)
	return im
}

// parallel calls fn(0) … fn(n-1), jobs at a time, and returns the first
// error.
func parallel(n, jobs int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range max(1, min(jobs, n)) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// pushImage pushes the blobs of im, -jobs at a time, as clients do, then
// its manifest by tag.
func (c *client) pushImage(repo, tag string, im image) error {
	blobs := append([][]byte{im.config}, im.layers...)
	if err := parallel(len(blobs), *flagJobs, func(i int) error { return c.pushBlob(repo, blobs[i]) }); err != nil {
		return err
	}
	return c.putManifest(repo, tag, im.manifest)
}

// pullImage pulls as a client does: the manifest by tag, then every blob,
// -jobs at a time, following redirects, checking the digests.
func (c *client) pullImage(repo, tag string) error {
	resp, body, err := c.do(http.MethodGet, "/v2/"+repo+"/manifests/"+tag, nil,
		map[string]string{"Accept": mtManifest + ", " + mtIndex})
	if err != nil {
		return err
	}
	if err := expect(resp, body, "manifest GET", http.StatusOK); err != nil {
		return err
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	ds := append([]descriptor{m.Config}, m.Layers...)
	return parallel(len(ds), *flagJobs, func(i int) error {
		d := ds[i]
		resp, b, err := c.do(http.MethodGet, "/v2/"+repo+"/blobs/"+d.Digest, nil, nil)
		if err != nil {
			return err
		}
		if err := expect(resp, b, "blob GET", http.StatusOK); err != nil {
			return err
		}
		if digestOf(b) != d.Digest {
			return fmt.Errorf("blob %s: got %s", d.Digest, digestOf(b))
		}
		return nil
	})
}

// pages GETs path and then each Link rel="next", calling each with the body.
func (c *client) pages(path string, each func([]byte) error) (int, error) {
	n := 0
	u := path
	for u != "" {
		resp, body, err := c.do(http.MethodGet, u, nil, nil)
		if err != nil {
			return n, err
		}
		if n == 0 && resp.StatusCode == http.StatusNotFound && strings.Contains(path, "/referrers/") {
			return n, errUnsupported
		}
		if err := expect(resp, body, "GET "+path, http.StatusOK); err != nil {
			return n, err
		}
		n++
		if err := each(body); err != nil {
			return n, err
		}
		u = ""
		if l := resp.Header.Get("Link"); l != "" {
			if i, j := strings.IndexByte(l, '<'), strings.IndexByte(l, '>'); i >= 0 && j > i {
				next, err := resp.Request.URL.Parse(l[i+1 : j])
				if err != nil {
					return n, err
				}
				u = next.String()
			}
		}
	}
	return n, nil
}
