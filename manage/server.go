package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/internal/watermark"
)

// Config is what a Server manages and how callers are checked.
type Config struct {
	// Broker is the node. Required.
	Broker *broker.Broker
	// Authenticator and Authorizer check every caller; nil (a node run
	// with --no-auth) lets every caller in as an administrator.
	Authenticator *access.Authenticator
	Authorizer    *access.Authorizer
	// Watermarks are the node's memory and disk alarms; nil: none shown.
	Watermarks *watermark.Monitor
	// UI serves the web UI at / besides the API (--http-ui).
	UI bool
	// SecureCookies marks the session cookie Secure (the listener serves
	// TLS).
	SecureCookies bool
	// MaxMessageBytes bounds a published body (the client port's limit);
	// 0 means 4 MiB.
	MaxMessageBytes int
	// Logger logs what goes wrong inside; nil discards.
	Logger hclog.Logger
}

// Server answers the management API and serves the UI. Safe for
// concurrent use; Close stops its rate sampler.
type Server struct {
	cfg      Config
	b        *broker.Broker
	logger   hclog.Logger
	sessions *sessionStore
	history  *rateHistory
	api      router
	ui       http.Handler
	maxBody  int64
}

// Limits of what a caller may send.
const (
	// maxNameBytes bounds names (AMQP's short string).
	maxNameBytes = 255
	// maxControlBody bounds the body of a request that is not a publish.
	maxControlBody = 64 << 10
	// defaultMaxMessage is the client port's default body limit.
	defaultMaxMessage = 4 << 20
	// maxArguments bounds the arguments of a declaration or binding and
	// the headers of a message (the client port's default).
	maxArguments = 128
	// requestTimeout bounds one API call's work on the cluster.
	requestTimeout = 30 * time.Second
)

// uiHeader marks the UI's own requests (they get no Basic challenge).
const uiHeader = "X-Warren-UI"

// New returns a Server for cfg and starts its rate sampler.
func New(cfg Config) (*Server, error) {
	if cfg.Broker == nil {
		return nil, errors.New("manage: no broker")
	}
	if (cfg.Authenticator == nil) != (cfg.Authorizer == nil) {
		return nil, errors.New("manage: Authenticator and Authorizer go together")
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = defaultMaxMessage
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &Server{
		cfg: cfg, b: cfg.Broker, logger: logger, sessions: newSessionStore(),
		history: startRateHistory(cfg.Broker.MessageTotals, historySpan, historyStep),
		// A base64 body is 4/3 of the message, plus the JSON around it.
		maxBody: int64(cfg.MaxMessageBytes)*4/3 + maxControlBody,
	}
	for _, rt := range s.routes() {
		s.api.add(rt.pattern, s.endpoint(rt))
	}
	s.api.add("/api/openapi.yaml", s.endpoint(route{pattern: "/api/openapi.yaml", public: true, methods: map[string]handler{http.MethodGet: serveOpenAPI}}))
	if cfg.UI {
		s.ui = uiHandler()
	}
	return s, nil
}

// Close stops the rate sampler.
func (s *Server) Close() { s.history.close() }

// ServeHTTP implements http.Handler: every answer carries the security
// headers, the API's and the UI's alike.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	switch {
	case r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/"):
		if h, ok := s.api.match(r); ok {
			h.ServeHTTP(w, r)
			return
		}
		s.writeError(w, r, notFound("no API endpoint %s", r.URL.Path))
	case s.ui != nil:
		s.ui.ServeHTTP(w, r)
	default:
		s.writeError(w, r, notFound("no page %s: the web UI is off (--http-ui=false); the API is under /api/", r.URL.Path))
	}
}

// contentSecurityPolicy lets the UI load only its own files: no inline
// script or style, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// route is one API path: its mux pattern and a handler per method.
type route struct {
	pattern string
	methods map[string]handler
	// public routes answer without a login (login itself).
	public bool
}

// handler answers one call for the caller it was authenticated as.
type handler func(w http.ResponseWriter, r *http.Request, c *caller) error

// endpoint authenticates the caller, checks the method, the origin and
// the CSRF token of a state-changing call, and runs the route's handler.
func (s *Server) endpoint(rt route) http.Handler {
	allow := make([]string, 0, len(rt.methods))
	for m := range rt.methods {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := rt.methods[r.Method]
		if !ok {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, &apiError{http.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("%s does not answer %s; it answers %s", rt.pattern, r.Method, strings.Join(allow, ", "))})
			return
		}
		changes := r.Method != http.MethodGet && r.Method != http.MethodHead
		if changes {
			if err := sameOrigin(r); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		var c *caller
		if !rt.public {
			var err error
			if c, err = s.authenticate(r); err != nil {
				s.writeError(w, r, err)
				return
			}
			if changes && c.session != nil {
				if err := c.session.checkCSRF(r); err != nil {
					s.writeError(w, r, err)
					return
				}
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		if err := h(w, r.WithContext(ctx), c); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// decode reads a JSON body of at most limit bytes into v, refusing
// fields v does not have (never silently ignored) and trailing data.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("Content-Type %q: the API takes application/json", ct)}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body is over %d bytes, the limit of this endpoint", limit)}
		case errors.Is(err, io.EOF):
			return badRequest("request body is empty; send a JSON object")
		}
		return badRequest("request body: %v", err)
	}
	if dec.More() {
		return badRequest("request body: data after the JSON object")
	}
	return nil
}

// checkName validates a name from a path or a body.
func checkName(what, name string, allowEmpty bool) error {
	if name == "" && !allowEmpty {
		return badRequest("%s name is empty", what)
	}
	if len(name) > maxNameBytes {
		return badRequest("%s name is %d bytes long; the limit is %d", what, len(name), maxNameBytes)
	}
	if !utf8.ValidString(name) {
		return badRequest("%s name is not valid UTF-8", what)
	}
	return nil
}

// pathName reads and validates the path segment key.
func pathName(r *http.Request, key, what string) (string, error) {
	v := r.PathValue(key)
	return v, checkName(what, v, false)
}

// noContent answers a change that returns nothing, as RabbitMQ (204).
func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}
