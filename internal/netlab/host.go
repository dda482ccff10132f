package netlab

import (
	"context"
	"net"
	"os/exec"
)

// Command returns a command that runs program name inside the host's
// namespace: `ip netns exec NS name args...`. ip execs the program, so once
// started cmd.Process.Pid is the program's pid and signals reach it
// directly. The child is also given SIGKILL as its parent-death signal, so
// a test binary that is killed does not leave it running (the signal is
// tied to the OS thread that starts the child, and Go ends threads only
// after LockOSThread, which Do undoes). ctx kills the process when done,
// as with exec.CommandContext.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	setParentDeathSignal(cmd)
	return cmd
}

// Do runs fn on a goroutine whose OS thread has entered the host's network
// namespace, and returns fn's error (a panic in fn is re-raised in the
// caller). Sockets that fn creates belong to the host's namespace for
// their whole life, so a connection dialled or a listener opened inside fn
// may be used from any goroutine afterwards. Goroutines that fn starts do
// NOT run in the namespace, and neither does anything that dials on its own
// goroutines (a gRPC ClientConn, for one): give those a dialer that calls
// DialContext instead.
//
// The thread leaves the namespace when fn returns; should that fail, the
// thread is discarded rather than reused (it exits with the goroutine).
func (h *Host) Do(fn func() error) error {
	if err := h.lab.usable(); err != nil {
		return err
	}
	return inNamespace(h.NS, fn)
}

// DialContext dials addr from inside the host's namespace; its signature
// fits net.Dialer.DialContext, and with the network fixed to "tcp" it is
// what grpc.WithContextDialer wants:
//
//	grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
//		return host.DialContext(ctx, "tcp", addr)
//	})
//
// Give it IP addresses: a name would be resolved on other goroutines,
// outside the namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen opens a stream listener inside the host's namespace, as
// net.Listen does; addr is normally h.IP+":port" (port 0 picks one).
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}
