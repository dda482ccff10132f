package access

import "errors"

// ErrUnauthenticated: the credentials are missing, wrong, or not allowed
// from where they came.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrThrottled: too many failed logins from the client's address.
var ErrThrottled = errors.New("too many failed logins")

// ErrNotReady: the cluster has no users yet (the bootstrap user is being
// created); retry.
var ErrNotReady = errors.New("authentication not ready")

// ErrDenied: the user lacks a permission or tag the request needs.
var ErrDenied = errors.New("permission denied")

// ErrNoVHost: the request names a virtual host that does not exist.
var ErrNoVHost = errors.New("no such virtual host")
