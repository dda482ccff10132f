package manage

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/warrenmq/warren/access"
)

// caller is who an API call runs for: a user the Authenticator accepted
// (Basic credentials or a client certificate), or the user of a login
// session (the UI's cookie).
type caller struct {
	user access.User
	// session is the login session the call came with, nil for Basic.
	session *session
}

// session is one login of the UI: its user and the CSRF token every
// state-changing call must carry.
type session struct {
	user      string
	credIndex uint64
	csrf      string
	expires   time.Time
}

// The session cookie and the CSRF header.
const (
	sessionCookie = "warren_session"
	csrfHeader    = "X-CSRF-Token"
	// sessionIdle ends a session not used for that long.
	sessionIdle = 8 * time.Hour
	// maxSessions bounds the login sessions held at once.
	maxSessions = 10_000
)

// sessionStore holds login sessions by the SHA-256 of their cookie, so
// the map's keys are not the secrets themselves.
type sessionStore struct {
	mu   sync.Mutex
	byID map[[sha256.Size]byte]*session
}

func newSessionStore() *sessionStore {
	return &sessionStore{byID: map[[sha256.Size]byte]*session{}}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// create starts a session for u and returns its cookie value.
func (st *sessionStore) create(u access.User, now time.Time) (string, *session) {
	token := randomToken()
	s := &session{user: u.Name, credIndex: u.CredentialIndex, csrf: randomToken(), expires: now.Add(sessionIdle)}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.byID) >= maxSessions {
		for k, v := range st.byID {
			if now.After(v.expires) {
				delete(st.byID, k)
			}
		}
	}
	if len(st.byID) >= maxSessions { // still full: the oldest goes
		var oldest [sha256.Size]byte
		var at time.Time
		for k, v := range st.byID {
			if at.IsZero() || v.expires.Before(at) {
				oldest, at = k, v.expires
			}
		}
		delete(st.byID, oldest)
	}
	st.byID[sha256.Sum256([]byte(token))] = s
	return token, s
}

// lookup returns the live session of cookie value token, extending it.
func (st *sessionStore) lookup(token string, now time.Time) (*session, bool) {
	k := sha256.Sum256([]byte(token))
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.byID[k]
	if !ok {
		return nil, false
	}
	if now.After(s.expires) {
		delete(st.byID, k)
		return nil, false
	}
	s.expires = now.Add(sessionIdle)
	return s, true
}

func (st *sessionStore) remove(token string) {
	st.mu.Lock()
	delete(st.byID, sha256.Sum256([]byte(token)))
	st.mu.Unlock()
}

// checkCSRF: a state-changing call of a cookie session carries the
// session's CSRF token in a header, which another site's page cannot read
// or set.
func (s *session) checkCSRF(r *http.Request) error {
	got := r.Header.Get(csrfHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		return &apiError{http.StatusForbidden, "csrf", "missing or wrong " + csrfHeader + " header: a state-changing call of a login session must carry the token /api/login or /api/whoami returned"}
	}
	return nil
}

// sameOrigin refuses a state-changing call a browser sent from another
// site: by Sec-Fetch-Site where the browser sends it, else by Origin.
// Non-browser clients send neither and pass.
func sameOrigin(r *http.Request) error {
	refuse := func(why string) error {
		return &apiError{http.StatusForbidden, "cross_origin", "cross-origin request refused: " + why}
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return refuse(fmt.Sprintf("Sec-Fetch-Site is %q", site))
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return refuse(fmt.Sprintf("Origin %q is not this server (%s)", origin, r.Host))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if u.Scheme != scheme {
		return refuse(fmt.Sprintf("Origin %q is not %s", origin, scheme))
	}
	return nil
}

// anonymous is the caller of a node without authentication (--no-auth):
// everything is allowed, as on its gRPC port.
var anonymous = access.User{Name: "", Tags: []string{access.TagAdministrator}}

// authenticate finds the caller of r: a login session's cookie, else the
// Basic credentials or client certificate the Authenticator accepts.
func (s *Server) authenticate(r *http.Request) (*caller, error) {
	if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" && r.Header.Get("Authorization") == "" {
		sess, ok := s.sessions.lookup(ck.Value, time.Now())
		if !ok {
			return nil, fmt.Errorf("%w: the login session ended; log in again", access.ErrUnauthenticated)
		}
		if s.cfg.Authenticator == nil {
			return &caller{user: anonymous, session: sess}, nil
		}
		// The user's record decides, as for a gRPC call: a deleted user or
		// a changed password ends the session.
		u, ok := s.b.UserRecord(sess.user)
		if !ok || u.CredentialIndex != sess.credIndex {
			s.sessions.remove(ck.Value)
			return nil, fmt.Errorf("%w: user %q was deleted or its password changed; log in again", access.ErrUnauthenticated, sess.user)
		}
		return &caller{user: u, session: sess}, nil
	}
	if s.cfg.Authenticator == nil {
		return &caller{user: anonymous}, nil
	}
	u, err := s.cfg.Authenticator.Authenticate(r.Context(), access.HTTPCredentials(r))
	if err != nil {
		return nil, err
	}
	return &caller{user: u}, nil
}

// authorize checks that c may do what needs lists in vhost, with the
// access package's decision (the gRPC API's).
func (s *Server) authorize(c *caller, vhost string, needs ...access.Need) error {
	if s.cfg.Authorizer == nil {
		// Without authorization the virtual host must still exist for what
		// acts in it (the Authorizer checks that first).
		for _, n := range needs {
			if (n.Tag == "" || n.OrVHostAccess) && !s.b.HasVHost(vhost) {
				return fmt.Errorf("%w: %q", access.ErrNoVHost, vhost)
			}
		}
		return nil
	}
	return s.cfg.Authorizer.Authorize(c.user, vhost, needs...)
}

// loginRequest is the body of POST /api/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// login checks a user and password and starts a session: an HttpOnly,
// SameSite=Strict cookie (Secure under TLS) and the CSRF token for the
// session's state-changing calls.
func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var req loginRequest
	if err := decode(w, r, maxControlBody, &req); err != nil {
		return err
	}
	if err := checkName("user", req.Username, false); err != nil {
		return err
	}
	if len(req.Password) > access.MaxPasswordBytes {
		return badRequest("password is %d bytes long; the limit is %d", len(req.Password), access.MaxPasswordBytes)
	}
	u := anonymous
	if s.cfg.Authenticator != nil {
		cred := access.HTTPCredentials(r)
		cred.User, cred.Password, cred.CertUser = req.Username, req.Password, ""
		var err error
		if u, err = s.cfg.Authenticator.Authenticate(r.Context(), cred); err != nil {
			return err
		}
	}
	token, sess := s.sessions.create(u, time.Now())
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.cfg.SecureCookies || r.TLS != nil,
	})
	writeJSON(w, http.StatusOK, whoAmI(u, sess, s.cfg.Authenticator != nil))
	return nil
}

// logout ends the caller's session and clears its cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *caller) error {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.remove(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.cfg.SecureCookies || r.TLS != nil,
	})
	return noContent(w)
}

// whoAmIResponse is /api/whoami's answer.
type whoAmIResponse struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
	// CSRFToken is the session's, "" for Basic callers.
	CSRFToken string `json:"csrf_token,omitempty"`
	// AuthEnabled is false on a node run with --no-auth.
	AuthEnabled bool `json:"auth_enabled"`
}

func whoAmI(u access.User, sess *session, auth bool) whoAmIResponse {
	out := whoAmIResponse{Name: u.Name, Tags: u.Tags, AuthEnabled: auth}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if sess != nil {
		out.CSRFToken = sess.csrf
	}
	return out
}

func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, c *caller) error {
	writeJSON(w, http.StatusOK, whoAmI(c.user, c.session, s.cfg.Authenticator != nil))
	return nil
}
