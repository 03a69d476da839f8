package main

import (
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// counter counts requests by API action. It is shared by the handler
// goroutines of one proxy.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(action string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[action]++
	c.mu.Unlock()
}

// take returns the counts so far and starts again from zero.
func (c *counter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := maps.Clone(c.n)
	if n == nil {
		n = map[string]int{}
	}
	c.n = map[string]int{}
	return n
}

// countingProxy is a reverse proxy on a loopback port that counts every
// request it forwards with classify. It keeps the Host header the client
// sent, so SigV4 signatures (of the SDKs and of presigned URLs) made for the
// proxy's address still verify at the server behind it.
type countingProxy struct {
	URL   string
	count counter
	srv   *http.Server
}

func startProxy(target string, classify func(*http.Request) string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{URL: "http://" + ln.Addr().String()}
	rp := &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			r.URL.Scheme = u.Scheme
			r.URL.Host = u.Host
			// r.Host stays the proxy's address: the one that was signed.
		},
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
		},
		FlushInterval: -1,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count.add(classify(r))
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *countingProxy) Close() { p.srv.Close() }

// dynamoAction names a DynamoDB request by its X-Amz-Target
// (DynamoDB_20120810.GetItem → GetItem).
func dynamoAction(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	if t == "" {
		return r.Method + " (no target)"
	}
	return t
}

// s3Action names a path-style S3 request by its API action, from the
// method, whether the path has a bucket and a key, the query parameters
// that select a sub-resource (?uploads, ?uploadId, ?partNumber,
// ?list-type, ?delete, ...) and x-amz-copy-source.
func s3Action(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	copySrc := r.Header.Get("X-Amz-Copy-Source") != ""
	if bucket == "" {
		if r.Method == http.MethodGet {
			return "ListBuckets"
		}
		return r.Method + " /"
	}
	if key == "" {
		switch r.Method {
		case http.MethodGet:
			switch {
			case has("list-type"):
				return "ListObjectsV2"
			case has("uploads"):
				return "ListMultipartUploads"
			case has("location"):
				return "GetBucketLocation"
			case has("versions"):
				return "ListObjectVersions"
			case len(q) == 0 || has("prefix") || has("delimiter") || has("marker") || has("max-keys"):
				return "ListObjects"
			}
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodPut:
			if len(q) == 0 {
				return "CreateBucket"
			}
		case http.MethodPost:
			if has("delete") {
				return "DeleteObjects"
			}
		case http.MethodDelete:
			if len(q) == 0 {
				return "DeleteBucket"
			}
		}
		return r.Method + " bucket?" + queryKeys(q)
	}
	switch r.Method {
	case http.MethodGet:
		switch {
		case has("uploadId"):
			return "ListParts"
		case has("tagging"):
			return "GetObjectTagging"
		case has("X-Amz-Signature"):
			return "GetObject (presigned)"
		}
		return "GetObject"
	case http.MethodHead:
		if has("X-Amz-Signature") {
			return "HeadObject (presigned)"
		}
		return "HeadObject"
	case http.MethodPut:
		switch {
		case has("partNumber") && copySrc:
			return "UploadPartCopy"
		case has("partNumber"):
			return "UploadPart"
		case copySrc:
			return "CopyObject"
		case has("tagging"):
			return "PutObjectTagging"
		}
		return "PutObject"
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		}
	case http.MethodDelete:
		if has("uploadId") {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	}
	return r.Method + " object?" + queryKeys(q)
}

func queryKeys(q url.Values) string {
	var ks []string
	for k := range q {
		ks = append(ks, k)
	}
	return strings.Join(ks, "&")
}
