package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/stint-io/stint"
)

// MaxBodySize is the largest request body the API reads.
const MaxBodySize = 64 << 10

// errorResponse is the body of every error answer. Grant is set when the
// failed call still has a grant to show: a denied request, a revocation
// that is being retried.
type errorResponse struct {
	Error errorDetail  `json:"error"`
	Grant *stint.Grant `json:"grant,omitempty"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statusError is an error whose HTTP status is not the one of its code
// (413 for an oversized body).
type statusError struct {
	status int
	err    *stint.Error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// StatusCode returns the HTTP status of an error code. Unknown codes are 500.
func StatusCode(code string) int {
	switch code {
	case stint.EINVALID:
		return http.StatusBadRequest
	case stint.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case stint.EDENIED:
		return http.StatusForbidden
	case stint.ENOTFOUND:
		return http.StatusNotFound
	case stint.ECONFLICT:
		return http.StatusConflict
	case stint.ETIMEOUT:
		return http.StatusGatewayTimeout
	case stint.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// WriteJSON writes v as the JSON body of a response with the given status.
func (s *Server) WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.WriteError(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteError writes err as {"error": {"code", "message"}} with the status
// of its code. The message of an internal error is "internal error"; the
// cause of internal and unavailable errors is logged, never sent.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeErrorGrant(w, r, err, nil)
}

func (s *Server) writeErrorGrant(w http.ResponseWriter, r *http.Request, err error, g *stint.Grant) {
	code, msg := stint.ErrorCode(err), stint.ErrorMessage(err)
	status := StatusCode(code)
	if se := (*statusError)(nil); errors.As(err, &se) {
		status = se.status
	}
	if code == stint.EINTERNAL {
		msg = "internal error"
	}
	switch status {
	case http.StatusInternalServerError:
		s.logger().LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		s.logger().LogAttrs(r.Context(), slog.LevelWarn, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	if code == stint.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="stint"`)
	}
	s.WriteJSON(w, r, status, errorResponse{Error: errorDetail{Code: code, Message: msg}, Grant: g})
}

// DecodeJSON decodes the request body into v strictly: one JSON object, no
// unknown fields, no trailing data, at most MaxBodySize bytes. Its errors
// are EINVALID with a message naming the problem (status 413 for a body
// that is too large); pass them to WriteError.
func (s *Server) DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSON(w, r, v, false)
}

// decodeJSON is DecodeJSON; with optional, an empty body leaves v as is.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodySize)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			if optional {
				return nil
			}
			return stint.Errorf(stint.EINVALID, "request body is empty; want a JSON object")
		}
		return jsonError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return jsonError(err)
		}
		return stint.Errorf(stint.EINVALID, "request body must be a single JSON object; found data after it")
	}
	return nil
}

// jsonError turns a decoding error into an EINVALID error that names the
// problem without echoing the body.
func jsonError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return &statusError{status: http.StatusRequestEntityTooLarge,
			err: stint.Errorf(stint.EINVALID, "request body too large (limit %d KiB)", MaxBodySize>>10)}
	case errors.As(err, &se):
		return stint.Errorf(stint.EINVALID, "malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return stint.Errorf(stint.EINVALID, "malformed JSON: unexpected end of body")
	case errors.As(err, &ute):
		if ute.Field == "" {
			return stint.Errorf(stint.EINVALID, "request body must be a JSON object, not %s", ute.Value)
		}
		return stint.Errorf(stint.EINVALID, "field %q: expected %s, not %s", ute.Field, ute.Type, ute.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return stint.Errorf(stint.EINVALID, "unknown field %s", f)
	}
	return stint.Errorf(stint.EINVALID, "invalid request body: %s", strings.TrimPrefix(err.Error(), "json: "))
}
