package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	mu       sync.Mutex
	n        map[string]int
	rru, wru float64 // DynamoDB read and write request units
}

func (c *counter) add(action string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[action]++
	c.mu.Unlock()
}

// addUnits adds DynamoDB capacity units, read or write.
func (c *counter) addUnits(read bool, units float64) {
	c.mu.Lock()
	if read {
		c.rru += units
	} else {
		c.wru += units
	}
	c.mu.Unlock()
}

// take returns the counts so far, with the read and write capacity units,
// and starts again from zero.
func (c *counter) take() (n map[string]int, rru, wru float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n = maps.Clone(c.n)
	if n == nil {
		n = map[string]int{}
	}
	rru, wru = c.rru, c.wru
	c.n, c.rru, c.wru = map[string]int{}, 0, 0
	return n, rru, wru
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

// With units set (DynamoDB), it also asks DynamoDB for the capacity each
// request consumes (ReturnConsumedCapacity TOTAL, added to the JSON body;
// DynamoDB Local does not check SigV4 signatures, so the changed body
// passes) and adds up the units of the answers: what on-demand billing
// charges, read and write request units.
func startProxy(target string, classify func(*http.Request) string, units bool) (*countingProxy, error) {
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
	if units {
		rp.ModifyResponse = func(resp *http.Response) error {
			min, _ := resp.Request.Context().Value(minUnitsKey{}).(float64)
			resp.Body = &unitsReader{ReadCloser: resp.Body, c: &p.count, read: dynamoReads[dynamoAction(resp.Request)], min: min}
			return nil
		}
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count.add(classify(r))
		if units {
			min, err := askCapacity(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), minUnitsKey{}, min))
		}
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *countingProxy) Close() { p.srv.Close() }

// dynamoReads are the DynamoDB actions whose units are read request units.
var dynamoReads = map[string]bool{"GetItem": true, "BatchGetItem": true, "Query": true, "Scan": true, "TransactGetItems": true}

// minUnitsKey keys the least write units a request costs in its context.
type minUnitsKey struct{}

// askCapacity sets ReturnConsumedCapacity to TOTAL in a DynamoDB request
// that does not ask for it already. It returns the least units the request
// costs, as far as its body tells (see transactionUnits).
func askCapacity(r *http.Request) (float64, error) {
	if r.Body == nil || r.Header.Get("X-Amz-Target") == "" {
		return 0, nil
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return 0, err
	}
	var (
		m   map[string]json.RawMessage
		min float64
	)
	if json.Unmarshal(b, &m) == nil && m != nil {
		if v, ok := m["ReturnConsumedCapacity"]; !ok || string(v) == `"NONE"` {
			m["ReturnConsumedCapacity"] = json.RawMessage(`"TOTAL"`)
			b, _ = json.Marshal(m)
		}
		if dynamoAction(r) == "TransactWriteItems" {
			min = transactionUnits(m["TransactItems"])
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Length", fmt.Sprint(len(b)))
	return min, nil
}

// transactionUnits is the least a TransactWriteItems costs: DynamoDB bills
// each of its items 2 write units per KB, but DynamoDB Local reports a
// transaction of several items as if it held one. A Put's size is its
// item's; an Update, Delete or ConditionCheck is counted as one KB (the
// stored item's size is not in the request): a lower bound.
func transactionUnits(raw json.RawMessage) float64 {
	var items []struct {
		Put *struct {
			Item map[string]json.RawMessage
		}
	}
	if json.Unmarshal(raw, &items) != nil {
		return 0
	}
	units := 0.0
	for _, it := range items {
		kb := 1
		if it.Put != nil {
			size := 0
			for name, v := range it.Put.Item {
				size += len(name) + attrSize(v)
			}
			kb = max(1, (size+1023)/1024)
		}
		units += 2 * float64(kb)
	}
	return units
}

// attrSize is the size DynamoDB gives an attribute value in JSON form:
// strings and binaries by their bytes, numbers about a byte per two
// digits, sets and lists as their members, maps with their names.
func attrSize(raw json.RawMessage) int {
	var v map[string]json.RawMessage
	if json.Unmarshal(raw, &v) != nil {
		return 0
	}
	size := 0
	for typ, val := range v {
		switch typ {
		case "S":
			var s string
			json.Unmarshal(val, &s)
			size += len(s)
		case "B":
			var b []byte
			json.Unmarshal(val, &b)
			size += len(b)
		case "N":
			var s string
			json.Unmarshal(val, &s)
			size += len(s)/2 + 1
		case "BOOL", "NULL":
			size++
		case "SS", "NS", "BS":
			var l []json.RawMessage
			json.Unmarshal(val, &l)
			for _, e := range l {
				size += len(e) - 2 // quoted
			}
		case "L":
			var l []json.RawMessage
			json.Unmarshal(val, &l)
			size += 3
			for _, e := range l {
				size += 1 + attrSize(e)
			}
		case "M":
			var m map[string]json.RawMessage
			json.Unmarshal(val, &m)
			size += 3
			for k, e := range m {
				size += 1 + len(k) + attrSize(e)
			}
		}
	}
	return size
}

// unitsReader passes a DynamoDB answer through and, at its end, adds the
// capacity units it reports (ConsumedCapacity: an object, or a list of
// them for batches and transactions).
type unitsReader struct {
	io.ReadCloser
	c    *counter
	read bool
	min  float64 // the least units of the request (transactionUnits)
	buf  bytes.Buffer
	done bool
}

func (u *unitsReader) Read(p []byte) (int, error) {
	n, err := u.ReadCloser.Read(p)
	u.buf.Write(p[:n])
	if err == io.EOF && !u.done {
		u.done = true
		var body struct{ ConsumedCapacity json.RawMessage }
		if json.Unmarshal(u.buf.Bytes(), &body) == nil && len(body.ConsumedCapacity) > 0 {
			type cc struct{ CapacityUnits float64 }
			var list []cc
			if body.ConsumedCapacity[0] == '{' {
				var one cc
				json.Unmarshal(body.ConsumedCapacity, &one)
				list = append(list, one)
			} else {
				json.Unmarshal(body.ConsumedCapacity, &list)
			}
			total := 0.0
			for _, c := range list {
				total += c.CapacityUnits
			}
			u.c.addUnits(u.read, max(total, u.min))
		}
	}
	return n, err
}

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
		case has("partNumber") && has("X-Amz-Signature"):
			return "UploadPart (presigned)" // a client's, to a part URL of a direct upload
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
