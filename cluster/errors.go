package cluster

import (
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
)

// ErrShuttingDown answers requests that arrive while the node stops.
var ErrShuttingDown = errors.New("node is shutting down")

// ErrMemberAlive is wrapped when a group's leader refuses to remove a node
// that its gossip still shows alive (it would add it back). Retry after
// gossip has converged.
var ErrMemberAlive = errors.New("member still alive in the leader's view")

// ErrGossipKeyInvalid is wrapped when a gossip key is not 16, 24 or 32
// bytes (or not base64 where it is given as text), or a keyring operation
// is unknown.
var ErrGossipKeyInvalid = errors.New("invalid gossip key")

// ErrGossipNotEncrypted is wrapped when a keyring operation reaches a node
// whose gossip is not encrypted: it was started without a gossip key and
// has no persisted keyring, so it has no keyring to change.
var ErrGossipNotEncrypted = errors.New("gossip is not encrypted")

// ErrGossipKeyNotInstalled is wrapped when a key that is not installed is
// to become the primary.
var ErrGossipKeyNotInstalled = errors.New("gossip key not installed")

// ErrGossipKeyPrimary is wrapped when the primary key (the one gossip is
// encrypted with) is to be removed.
var ErrGossipKeyPrimary = errors.New("gossip key is the primary key")

// ErrorDomain is the ErrorInfo domain of Warren's errors.
const ErrorDomain = "warren"

// ReasonNotLeader is the ErrorInfo reason of a *raftgroup.NotLeaderError.
// Its metadata: group, leader_id, leader_addr, and where the answering
// node knows them leader_grpc_addr and meta_index (MetaIndexKey).
const ReasonNotLeader = "NOT_LEADER"

// ReasonGossipKeyNotApplied is the ErrorInfo reason of a *GossipKeyError.
// Its metadata: op, and failed_members (the node ids, comma-separated).
const ReasonGossipKeyNotApplied = "GOSSIP_KEY_NOT_APPLIED"

// Metadata keys of a NOT_LEADER ErrorInfo.
const (
	LeaderGRPCAddrKey = "leader_grpc_addr"
	MetaIndexKey      = "meta_index"
)

// errorCode ties a sentinel error to the gRPC code and the ErrorInfo
// reason it travels as.
type errorCode struct {
	err    error
	code   codes.Code
	reason string
}

// errorCodes is the one table between Go errors and gRPC statuses for the
// errors that cross a node-to-node call: a node that forwards a call to a
// group's leader gets back, through FromStatus, an error that errors.Is
// matches against the same sentinel the leader had. The reason tells apart
// sentinels that share a code. Order matters where an error wraps two
// (an outcome-unknown shutdown is OUTCOME_UNKNOWN). Package transport maps
// the errors of its own layers next to it (transport/errors.go).
var errorCodes = []errorCode{
	{raftgroup.ErrOutcomeUnknown, codes.Unavailable, "OUTCOME_UNKNOWN"},
	{raftgroup.ErrGroupClosed, codes.Unavailable, "GROUP_CLOSED"},
	{raftgroup.ErrEntryTooLarge, codes.ResourceExhausted, "ENTRY_TOO_LARGE"},
	{ErrShuttingDown, codes.Unavailable, "SHUTTING_DOWN"},
	{ErrMemberAlive, codes.Unavailable, "MEMBER_ALIVE"},
	{fsm.ErrNotFound, codes.NotFound, "NOT_FOUND"},
	{fsm.ErrExists, codes.FailedPrecondition, "EXISTS"},
	{fsm.ErrInvalid, codes.InvalidArgument, "INVALID"},
	{fsm.ErrPrecondition, codes.FailedPrecondition, "PRECONDITION"},
	{fsm.ErrLimit, codes.ResourceExhausted, "LIMIT"},
	{fsm.ErrAccessRefused, codes.PermissionDenied, "ACCESS_REFUSED"},
	{fsm.ErrUnknownCommand, codes.InvalidArgument, "UNKNOWN_COMMAND"},
	{fsm.ErrBadCommand, codes.InvalidArgument, "BAD_COMMAND"},
	{ErrGossipKeyInvalid, codes.InvalidArgument, "GOSSIP_KEY_INVALID"},
	{ErrGossipNotEncrypted, codes.FailedPrecondition, "GOSSIP_NOT_ENCRYPTED"},
	{ErrGossipKeyNotInstalled, codes.FailedPrecondition, "GOSSIP_KEY_NOT_INSTALLED"},
	{ErrGossipKeyPrimary, codes.FailedPrecondition, "GOSSIP_KEY_PRIMARY"},
}

// Status returns the status err travels as when it is a
// *raftgroup.NotLeaderError, a *GossipKeyError or wraps one of the table's
// sentinels, and false otherwise. The message drops a leading
// "<sentinel>: ": the code already says it.
func Status(err error) (*status.Status, bool) {
	var nle *raftgroup.NotLeaderError
	if errors.As(err, &nle) {
		return NotLeaderStatus(err, nle, nil), true
	}
	var gke *GossipKeyError
	if errors.As(err, &gke) {
		md := map[string]string{"op": gke.Op.String(), "failed_members": strings.Join(gke.FailedIDs(), ",")}
		return withInfo(gke.code(), err.Error(), ReasonGossipKeyNotApplied, md), true
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			msg := strings.TrimPrefix(err.Error(), e.err.Error()+": ")
			return withInfo(e.code, msg, e.reason, nil), true
		}
	}
	return nil, false
}

// Reason returns the ErrorInfo reason err travels with ("" when none).
func Reason(err error) string {
	if st, ok := Status(err); ok {
		return reasonOf(st)
	}
	return ""
}

// NotLeaderStatus is the UNAVAILABLE status of err, which wraps nle, with
// nle's fields and extra in its metadata.
func NotLeaderStatus(err error, nle *raftgroup.NotLeaderError, extra map[string]string) *status.Status {
	md := map[string]string{"group": nle.Group, "leader_id": nle.LeaderID, "leader_addr": nle.LeaderAddr}
	for k, v := range extra {
		md[k] = v
	}
	return withInfo(codes.Unavailable, err.Error(), ReasonNotLeader, md)
}

// FromStatus turns the error of a call to a peer back into the error the
// peer had, when its status carries one of the table's reasons (or
// NOT_LEADER): errors.Is and errors.As then match as on the peer. Any other
// status is returned as is, keeping its code and details; an error that
// is no status (the call never reached the peer) too.
func FromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return err
	}
	reason, md := reasonOf(st), metadataOf(st)
	if reason == ReasonNotLeader {
		return raftgroup.NewNotLeaderError(md["group"], md["leader_id"], md["leader_addr"])
	}
	return fromCode(st.Code(), reason, st.Message(), err)
}

// ErrorOf rebuilds the error a peer encoded as a code, reason and message
// outside a status (a domain error inside a successful reply); nil for OK.
func ErrorOf(code codes.Code, reason, msg string) error {
	if code == codes.OK {
		return nil
	}
	return fromCode(code, reason, msg, status.Error(code, msg))
}

func fromCode(code codes.Code, reason, msg string, otherwise error) error {
	for _, e := range errorCodes {
		if e.reason == reason && e.code == code {
			return &remoteError{sentinel: e.err, msg: msg}
		}
	}
	return otherwise
}

// remoteError is a peer's error rebuilt: its text, and its sentinel for
// errors.Is.
type remoteError struct {
	sentinel error
	msg      string
}

func (e *remoteError) Error() string { return e.sentinel.Error() + ": " + e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// ErrorWithReason returns a status error of code and msg carrying an
// ErrorInfo of reason in Warren's domain, for errors of other layers that
// a client tells apart by reason (transport's SESSION_CLOSED).
func ErrorWithReason(code codes.Code, msg, reason string) error {
	return withInfo(code, msg, reason, nil).Err()
}

func withInfo(code codes.Code, msg, reason string, md map[string]string) *status.Status {
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md}); err == nil {
		return d
	}
	return st
}

func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return info
		}
	}
	return nil
}

func reasonOf(st *status.Status) string { return errorInfo(st).GetReason() }

func metadataOf(st *status.Status) map[string]string { return errorInfo(st).GetMetadata() }
