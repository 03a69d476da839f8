package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/pier-registry/pier/internal/oci"
)

// errorBody is the JSON error form of the distribution spec.
type errorBody struct {
	Errors []*oci.Error `json:"errors"`
}

// error answers err: an *oci.Error in its JSON form with its status,
// anything else as a 500 whose cause is logged, not shown; but for a
// request whose body the client cut short, a 499 (no body).
func (h *Handler) error(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := oci.AsError(err)
	if !ok {
		if errors.Is(err, context.Canceled) || clientAbort(r.Context()) != nil {
			// The client went away, or stopped sending the body: no
			// fault of the registry's, and nobody reads the answer. The
			// request's log line says what the body's read gave
			// (client_abort).
			w.WriteHeader(499)
			return
		}
		logger(r.Context(), h.log).Error("request failed", "error", err.Error())
		e = &oci.Error{Code: "UNKNOWN", Message: "internal error: see the registry's log for request " + requestID(r.Context()), HTTPStatus: http.StatusInternalServerError}
	}
	writeJSON(w, r, e.Status(), "application/json", errorBody{Errors: []*oci.Error{e}})
}

// writeJSON writes v as the JSON body of a response with status and
// Content-Type ct (the body is left out for HEAD).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, ct string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeBody(w, r, status, ct, b)
}

// writeBody writes b as the body of a response with status and
// Content-Type ct; for HEAD only the headers.
func writeBody(w http.ResponseWriter, r *http.Request, status int, ct string, b []byte) {
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// writeEmpty writes a response with status and no body.
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// Warn adds a Warning header (RFC 7234, code 299, agent "-", as the
// distribution spec asks) with text to the response. Any handler may warn;
// clients show warnings to their users.
func Warn(w http.ResponseWriter, text string) {
	text = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, text)
	text = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(text)
	w.Header().Add("Warning", `299 - "`+text+`"`)
}
