package statusrec

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWriter(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		status int
		bytes  int64
	}{
		{"nothing", func(w http.ResponseWriter) {}, 0, 0},
		{"body first", func(w http.ResponseWriter) { w.Write([]byte("hello")); w.WriteHeader(http.StatusTeapot) }, http.StatusOK, 5},
		{"status first", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("no"))
			w.Write([]byte("pe"))
		}, http.StatusNotFound, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rr := httptest.NewRecorder()
			w := &Writer{ResponseWriter: rr}
			tt.answer(w)
			if w.Status != tt.status || w.Bytes != tt.bytes {
				t.Errorf("status %d, bytes %d; want %d, %d", w.Status, w.Bytes, tt.status, tt.bytes)
			}
			if http.NewResponseController(w).Flush() != nil {
				t.Error("Flush through the writer failed: Unwrap does not reach the recorder")
			}
		})
	}
}
