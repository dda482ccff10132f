package access

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/internal/password"
)

// Perm is one of RabbitMQ's three permissions.
type Perm uint8

// The permissions, as RabbitMQ defines them: configure creates and
// destroys resources (and changes their behaviour), write injects
// messages, read takes them out.
const (
	Configure Perm = iota + 1
	Write
	Read
)

func (p Perm) String() string {
	switch p {
	case Configure:
		return "configure"
	case Write:
		return "write"
	case Read:
		return "read"
	}
	return fmt.Sprintf("perm(%d)", uint8(p))
}

// The user tags access gives meaning to.
const (
	// TagAdministrator may do everything: users, virtual hosts,
	// permissions, cluster membership, gossip keys — and what monitoring
	// may.
	TagAdministrator = "administrator"
	// TagMonitoring may list every object and see the cluster's status.
	TagMonitoring = "monitoring"
)

// Need is one thing a request needs. Exactly one of its forms is used:
// Tag (the user must carry that tag, or administrator); Perm with Kind and
// Name (a permission on a resource of the request's virtual host); or
// neither (only access to the virtual host: some permission there).
type Need struct {
	Tag string
	// OrVHostAccess lets access to the virtual host stand in for Tag.
	OrVHostAccess bool
	Perm          Perm
	Kind          string // "queue" or "exchange"
	Name          string
}

// Tag is the Need of a user tag.
func Tag(t string) Need { return Need{Tag: t} }

// Listing is the Need of a listing: the monitoring tag, or access to the
// virtual host.
func Listing() Need { return Need{Tag: TagMonitoring, OrVHostAccess: true} }

// VHostAccess is the Need of some permission in the virtual host.
func VHostAccess() Need { return Need{} }

// OnQueue and OnExchange are the Needs of permission p on a resource.
func OnQueue(p Perm, name string) Need    { return Need{Perm: p, Kind: "queue", Name: name} }
func OnExchange(p Perm, name string) Need { return Need{Perm: p, Kind: "exchange", Name: name} }

// defaultExchangeName is what permissions match for the default exchange,
// whose name is "" (RabbitMQ's rule).
const defaultExchangeName = "amq.default"

// Authorizer decides whether a user may do what a request needs. It reads
// the Directory on every call, so a change of permissions takes effect on
// a connected client's next call. Safe for concurrent use.
type Authorizer struct {
	dir Directory

	mu       sync.Mutex
	patterns map[string]*regexp.Regexp
}

// maxPatterns bounds the compiled-pattern cache.
const maxPatterns = 4096

// NewAuthorizer returns an Authorizer reading dir.
func NewAuthorizer(dir Directory) *Authorizer {
	return &Authorizer{dir: dir, patterns: map[string]*regexp.Regexp{}}
}

// Authorize returns nil if u may do everything needs lists in vhost, and
// otherwise an error wrapping ErrDenied that names the user, the resource
// and the missing permission (or ErrNoVHost).
func (z *Authorizer) Authorize(u fsm.User, vhost string, needs ...Need) error {
	var perm *fsm.Permission
	vhostChecked := false
	for _, n := range needs {
		// Whether the vhost exists is read once per call, not per need.
		if (n.Tag == "" || n.OrVHostAccess) && !vhostChecked {
			if !z.dir.HasVHost(vhost) {
				return fmt.Errorf("%w: %q", ErrNoVHost, vhost)
			}
			vhostChecked = true
		}
		if n.Tag != "" {
			if n.OrVHostAccess && !u.HasTag(n.Tag) && !u.HasTag(TagAdministrator) {
				if _, err := z.vhostPermission(u, vhost); err != nil {
					return err
				}
				continue
			}
			if !u.HasTag(n.Tag) && !u.HasTag(TagAdministrator) {
				return fmt.Errorf("%w: user %q needs the %q tag for this", ErrDenied, u.Name, n.Tag)
			}
			continue
		}
		if perm == nil {
			p, err := z.vhostPermission(u, vhost)
			if err != nil {
				return err
			}
			perm = &p
		}
		if n.Perm == 0 {
			continue
		}
		name := n.Name
		if n.Kind == "exchange" && name == fsm.DefaultExchange {
			name = defaultExchangeName
		}
		if !z.match(pattern(*perm, n.Perm), name) {
			return fmt.Errorf("%w: user %q has no %s permission on %s %q in virtual host %q",
				ErrDenied, u.Name, n.Perm, n.Kind, n.Name, vhost)
		}
	}
	return nil
}

func (z *Authorizer) vhostPermission(u fsm.User, vhost string) (fsm.Permission, error) {
	p, ok := z.dir.PermissionOf(u.Name, vhost)
	if ok {
		return p, nil
	}
	if !z.dir.HasVHost(vhost) {
		return p, fmt.Errorf("%w: %q", ErrNoVHost, vhost)
	}
	return p, fmt.Errorf("%w: user %q has no access to virtual host %q", ErrDenied, u.Name, vhost)
}

func pattern(p fsm.Permission, which Perm) string {
	switch which {
	case Configure:
		return p.Configure
	case Write:
		return p.Write
	case Read:
		return p.Read
	}
	return ""
}

// match reports whether name matches the permission pattern re: an
// unanchored RE2 match, as RabbitMQ's; "" matches nothing.
func (z *Authorizer) match(re, name string) bool {
	if re == "" {
		return false
	}
	z.mu.Lock()
	compiled, ok := z.patterns[re]
	z.mu.Unlock()
	if !ok {
		var err error
		if compiled, err = regexp.Compile(re); err != nil {
			return false // the log accepts only patterns that compile
		}
		z.mu.Lock()
		if len(z.patterns) >= maxPatterns {
			clear(z.patterns)
		}
		z.patterns[re] = compiled
		z.mu.Unlock()
	}
	return compiled.MatchString(name)
}

// ValidPattern checks a permission's regular expression as the log will
// (fsm.ValidPattern), so the edge refuses what the log would.
func ValidPattern(what, re string) error { return fsm.ValidPattern(what, re) }

// Limits of user records at the edge, the log's (fsm) and the hash's.
const (
	MaxTags          = fsm.MaxTags
	MaxPatternBytes  = fsm.MaxPatternBytes
	MaxPasswordBytes = password.MaxBytes
)
