package e2e_test

import (
	"strings"
	"testing"
)

// The AMQP ports' flags refuse what would run unprotected or cannot work:
// --amqps-addr without the client API's certificate, and plain AMQP beyond
// loopback without --insecure; both before anything is bound.
func TestAMQPFlagsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--amqps-addr", "127.0.0.1:0"}, "--amqps-addr needs --tls-cert and --tls-key"},
		{[]string{"--amqp-addr", "0.0.0.0:0"}, "the AMQP port on 0.0.0.0:0 has no TLS"},
	} {
		args := append([]string{"--data-dir", t.TempDir()}, c.args...)
		_, errOut, code := runNode(t, args...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("warren-node %v: exit %d, stderr %q; want 1 and %q", c.args, code, errOut, c.want)
		}
	}
}
