package oci

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is an error code of the distribution spec ("BLOB_UNKNOWN", ...).
type Code string

// The error codes of distribution-spec v1.1.
const (
	CodeBlobUnknown         Code = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   Code = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   Code = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       Code = "DIGEST_INVALID"
	CodeManifestBlobUnknown Code = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     Code = "MANIFEST_INVALID"
	CodeManifestUnknown     Code = "MANIFEST_UNKNOWN"
	CodeNameInvalid         Code = "NAME_INVALID"
	CodeNameUnknown         Code = "NAME_UNKNOWN"
	CodeSizeInvalid         Code = "SIZE_INVALID"
	CodeUnauthorized        Code = "UNAUTHORIZED"
	CodeDenied              Code = "DENIED"
	CodeUnsupported         Code = "UNSUPPORTED"
	CodeTooManyRequests     Code = "TOOMANYREQUESTS"
)

// Status is the HTTP status that usually goes with the code. An Error may
// carry another one (a 413 for a manifest that is too large, a 416 for an
// upload chunk out of order).
func (c Code) Status() int {
	switch c {
	case CodeBlobUnknown, CodeBlobUploadUnknown, CodeManifestUnknown, CodeNameUnknown:
		return http.StatusNotFound
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeDenied:
		return http.StatusForbidden
	case CodeUnsupported:
		return http.StatusMethodNotAllowed
	case CodeTooManyRequests:
		return http.StatusTooManyRequests
	default:
		return http.StatusBadRequest
	}
}

// Error is an error the registry answers with, in the JSON form of the spec.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
	// HTTPStatus overrides Code.Status when it is not zero.
	HTTPStatus int `json:"-"`
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithStatus sets the HTTP status the error is answered with and returns e.
func (e *Error) WithStatus(status int) *Error {
	e.HTTPStatus = status
	return e
}

// WithDetail sets the error's detail and returns e.
func (e *Error) WithDetail(detail any) *Error {
	e.Detail = detail
	return e
}

// Status is the HTTP status the error is answered with.
func (e *Error) Status() int {
	if e.HTTPStatus != 0 {
		return e.HTTPStatus
	}
	return e.Code.Status()
}

func (e *Error) Error() string {
	return string(e.Code) + ": " + e.Message
}

// AsError returns the *Error in err's chain, if there is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
