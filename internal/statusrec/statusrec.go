// Package statusrec notes what an http.Handler answered: the status and
// the size of the body, for the request log (internal/httpapi) and the
// local CDN (internal/localapi).
package statusrec

import "net/http"

// Writer is an http.ResponseWriter that notes the status and the bytes of
// the body written through it.
type Writer struct {
	http.ResponseWriter
	// Status is the status of the answer: that of the first WriteHeader,
	// 200 when the body came first, 0 while nothing was written.
	Status int
	// Bytes is the size of the body written so far.
	Bytes int64
}

// WriteHeader notes status, when it is the first, and writes it.
func (w *Writer) WriteHeader(status int) {
	if w.Status == 0 {
		w.Status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write writes b, noting its size (and the status 200 when none was
// written).
func (w *Writer) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.Bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
