package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/fsm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// apiError is an answer other than success: its HTTP status, a short
// machine-readable reason and a sentence for people. The body is
// {"error": reason, "reason": sentence}, as RabbitMQ's management API.
type apiError struct {
	status int
	reason string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf(format, args...)}
}

// resourceExhausted is met by the watermark monitor's errors (a node short
// of memory or disk refuses publishes).
type resourceExhausted interface{ ResourceExhausted() bool }

// classify is the one place where errors become HTTP statuses, the twin of
// transport's error→gRPC table: bad input is 4xx, never 500.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var low resourceExhausted
	var redirect *broker.NotLeaderError
	e := func(code int, reason string) *apiError { return &apiError{code, reason, err.Error()} }
	switch {
	case errors.As(err, &low) && low.ResourceExhausted():
		return e(http.StatusServiceUnavailable, "resource_alarm")
	case errors.Is(err, context.DeadlineExceeded):
		return e(http.StatusGatewayTimeout, "timeout")
	case errors.Is(err, context.Canceled):
		return e(http.StatusServiceUnavailable, "canceled")
	case errors.As(err, &redirect):
		return e(http.StatusServiceUnavailable, "no_leader")
	case errors.Is(err, access.ErrUnauthenticated):
		return e(http.StatusUnauthorized, "not_authorised")
	case errors.Is(err, access.ErrThrottled):
		return e(http.StatusTooManyRequests, "throttled")
	case errors.Is(err, access.ErrNotReady):
		return e(http.StatusServiceUnavailable, "not_ready")
	case errors.Is(err, access.ErrDenied), errors.Is(err, fsm.ErrAccessRefused):
		return e(http.StatusForbidden, "access_refused")
	case errors.Is(err, access.ErrNoVHost):
		return e(http.StatusNotFound, "no_vhost")
	case errors.Is(err, fsm.ErrNotFound):
		return e(http.StatusNotFound, "not_found")
	case errors.Is(err, fsm.ErrExists):
		return e(http.StatusConflict, "exists")
	case errors.Is(err, fsm.ErrPrecondition), errors.Is(err, broker.ErrUnknownTag), errors.Is(err, broker.ErrConsumerExists):
		return e(http.StatusConflict, "precondition_failed")
	case errors.Is(err, fsm.ErrLimit):
		return e(http.StatusConflict, "limit_reached")
	case errors.Is(err, fsm.ErrInvalid), errors.Is(err, fsm.ErrBadCommand), errors.Is(err, fsm.ErrUnknownCommand):
		return e(http.StatusBadRequest, "bad_request")
	case errors.Is(err, broker.ErrStopped), errors.Is(err, broker.ErrConsumerClosed):
		return e(http.StatusServiceUnavailable, "unavailable")
	}
	// A call forwarded to another node answers with a gRPC status.
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.InvalidArgument, codes.OutOfRange:
			return e(http.StatusBadRequest, "bad_request")
		case codes.NotFound:
			return e(http.StatusNotFound, "not_found")
		case codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted:
			return e(http.StatusConflict, "precondition_failed")
		case codes.PermissionDenied:
			return e(http.StatusForbidden, "access_refused")
		case codes.Unauthenticated:
			return e(http.StatusUnauthorized, "not_authorised")
		case codes.ResourceExhausted:
			return e(http.StatusTooManyRequests, "resource_exhausted")
		case codes.Unavailable:
			return e(http.StatusServiceUnavailable, "unavailable")
		case codes.DeadlineExceeded:
			return e(http.StatusGatewayTimeout, "timeout")
		}
	}
	return e(http.StatusInternalServerError, "internal_error")
}

// writeError answers err as JSON.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	switch ae.status {
	case http.StatusUnauthorized:
		// The UI handles 401 itself; only other clients get the Basic
		// challenge (a browser would otherwise pop up its own dialog).
		if r.Header.Get(uiHeader) == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="warren", charset="UTF-8"`)
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case http.StatusInternalServerError:
		s.logger.Error("management API", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	writeJSON(w, ae.status, map[string]string{"error": ae.reason, "reason": ae.msg})
}

// writeJSON answers v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}
