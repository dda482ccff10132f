package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/internal/certs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// securityFlags are the node's TLS and gossip-encryption flags.
type securityFlags struct {
	clientCert, clientKey, clientCA    string // the client API
	clusterCA, clusterCert, clusterKey string // the cluster port, mutual
	gossipKeyFile                      string
	insecure                           bool

	// Authentication.
	noAuth                bool
	bootstrapUser         string
	bootstrapPasswordFile string
	loopbackUsers         []string
}

func (s *securityFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.clientCert, "tls-cert", "", "PEM certificate of the client API (TLS on the client port; with --tls-key)")
	fs.StringVar(&s.clientKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&s.clientCA, "tls-client-ca", "", "PEM CA that client certificates must be signed by: makes client certificates required (mutual TLS)")
	fs.StringVar(&s.clusterCA, "cluster-ca", "", "PEM CA of the cluster: the cluster port (Raft and node-to-node calls) runs mutual TLS and admits only node certificates it signed")
	fs.StringVar(&s.clusterCert, "cluster-cert", "", "PEM node certificate for the cluster port (warren tls cert create --node ID)")
	fs.StringVar(&s.clusterKey, "cluster-key", "", "PEM private key of --cluster-cert")
	fs.StringVar(&s.gossipKeyFile, "gossip-key-file", "", "file holding the base64 gossip encryption key (16, 24 or 32 bytes; warren cluster gossip-key generate). It seeds the node's gossip keyring on the first start only: the keyring is persisted in --data-dir and takes precedence from then on (warren cluster gossip-key rotates it)")
	fs.BoolVar(&s.noAuth, "no-auth", false, "serve clients without authentication or permissions (benchmarks and tests; refused beyond loopback without --insecure)")
	fs.StringVar(&s.bootstrapUser, "bootstrap-user", "", "name of the first administrator of a new cluster, instead of guest/guest (with --bootstrap-password-file; ignored by a cluster that has users)")
	fs.StringVar(&s.bootstrapPasswordFile, "bootstrap-password-file", "", "file holding --bootstrap-user's password")
	fs.StringSliceVar(&s.loopbackUsers, "loopback-users", []string{"guest"}, "users (comma-separated) who may connect only from loopback (RabbitMQ's loopback_users; \"\" for none)")
	fs.BoolVar(&s.insecure, "insecure", false, "allow listening on a non-loopback address without TLS on the client API and the cluster port and without a gossip key (anyone who reaches the ports can use them)")
}

// security is what the flags loaded: the identities to reload on SIGHUP
// and what the node's listeners use.
type security struct {
	identities []*certs.Identity
	// grpcCreds is the client port's server option; nil: plaintext.
	grpcCreds grpc.ServerOption
	// httpTLS is the HTTP endpoint's: the client API's certificate, and
	// its client CA checking certificates that are presented (a probe
	// presents none); nil: plain HTTP.
	httpTLS    *tls.Config
	clusterTLS bool
}

// load reads the files the flags name and fills the cluster config's TLS
// and gossip key. It refuses half-given pairs, and a node that would listen
// beyond loopback unprotected unless --insecure.
func (s *securityFlags) load(f *flags) (*security, error) {
	sec := &security{}
	c := &f.broker.Cluster
	if (s.clientCert == "") != (s.clientKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if s.clientCA != "" && s.clientCert == "" {
		return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key (client certificates are checked over TLS)")
	}
	if s.clientCert != "" {
		id, err := certs.Load(certs.Files{CA: s.clientCA, Cert: s.clientCert, Key: s.clientKey})
		if err != nil {
			return nil, fmt.Errorf("client API TLS: %w", err)
		}
		sec.identities = append(sec.identities, id)
		sec.grpcCreds = grpc.Creds(credentials.NewTLS(id.ServerConfig(s.clientCA != "")))
		sec.httpTLS = id.OptionalClientCertConfig(s.clientCA != "")
	}
	given := 0
	for _, v := range []string{s.clusterCA, s.clusterCert, s.clusterKey} {
		if v != "" {
			given++
		}
	}
	switch given {
	case 0:
	case 3:
		id, err := certs.Load(certs.Files{CA: s.clusterCA, Cert: s.clusterCert, Key: s.clusterKey})
		if err != nil {
			return nil, fmt.Errorf("cluster TLS: %w", err)
		}
		sec.identities = append(sec.identities, id)
		c.TLS = id.MutualConfig()
		sec.clusterTLS = true
	default:
		return nil, errors.New("--cluster-ca, --cluster-cert and --cluster-key go together")
	}
	if s.gossipKeyFile != "" {
		raw, err := os.ReadFile(s.gossipKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--gossip-key-file: %w", err)
		}
		key, err := cluster.ParseGossipKey(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("--gossip-key-file %s: %w", s.gossipKeyFile, err)
		}
		c.GossipKey = key
	}
	if (s.bootstrapUser == "") != (s.bootstrapPasswordFile == "") {
		return nil, errors.New("--bootstrap-user and --bootstrap-password-file go together")
	}
	if s.bootstrapUser != "" {
		raw, err := os.ReadFile(s.bootstrapPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--bootstrap-password-file: %w", err)
		}
		pw := strings.TrimRight(string(raw), "\r\n")
		if pw == "" {
			return nil, fmt.Errorf("--bootstrap-password-file %s is empty", s.bootstrapPasswordFile)
		}
		f.broker.Bootstrap = broker.BootstrapUser{Name: s.bootstrapUser, Password: pw}
	}
	if f.amqpsAddr != "" && sec.httpTLS == nil {
		return nil, errors.New("--amqps-addr needs --tls-cert and --tls-key (its TLS certificate is the client API's)")
	}
	if s.insecure {
		return sec, nil
	}
	var missing []string
	if s.noAuth && !loopback(f.grpcAddr) {
		missing = append(missing, fmt.Sprintf("the client API on %s has no authentication (--no-auth)", f.grpcAddr))
	}
	if s.noAuth && f.httpAddr != "" && !loopback(f.httpAddr) {
		missing = append(missing, fmt.Sprintf("the HTTP endpoint on %s has no authentication (--no-auth)", f.httpAddr))
	}
	if sec.httpTLS == nil && f.httpAddr != "" && !loopback(f.httpAddr) {
		missing = append(missing, fmt.Sprintf("the HTTP endpoint on %s has no TLS (--tls-cert, --tls-key)", f.httpAddr))
	}
	if s.noAuth && f.amqpAddr != "" && !loopback(f.amqpAddr) {
		missing = append(missing, fmt.Sprintf("the AMQP port on %s has no authentication (--no-auth)", f.amqpAddr))
	}
	if f.amqpAddr != "" && !loopback(f.amqpAddr) {
		missing = append(missing, fmt.Sprintf("the AMQP port on %s has no TLS (use --amqps-addr, and --amqp-addr \"\" or a loopback address)", f.amqpAddr))
	}
	if sec.grpcCreds == nil && !loopback(f.grpcAddr) {
		missing = append(missing, fmt.Sprintf("the client API on %s has no TLS (--tls-cert, --tls-key)", f.grpcAddr))
	}
	if !sec.clusterTLS && !loopback(c.RaftAddr) {
		missing = append(missing, fmt.Sprintf("the cluster port on %s has no mutual TLS (--cluster-ca, --cluster-cert, --cluster-key)", c.RaftAddr))
	}
	// A keyring persisted by an earlier start encrypts gossip without the
	// flag.
	if len(c.GossipKey) == 0 && !cluster.HasGossipKeyring(c.DataDir) && !loopback(c.GossipAddr) {
		missing = append(missing, fmt.Sprintf("gossip on %s is not encrypted (--gossip-key-file)", c.GossipAddr))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("refusing to listen beyond loopback unprotected: %s; give those flags, or --insecure to run open anyway", strings.Join(missing, "; "))
	}
	return sec, nil
}

// accessOptions are the authenticator's options the flags give.
func (s *securityFlags) accessOptions() access.Options {
	users := []string{}
	for _, u := range s.loopbackUsers {
		if u = strings.TrimSpace(u); u != "" {
			users = append(users, u)
		}
	}
	return access.Options{LoopbackUsers: users}
}

// reload re-reads every certificate and key from disk (SIGHUP); a file that
// fails keeps the pair in use.
func (sec *security) reload() error {
	var errs []error
	for _, id := range sec.identities {
		errs = append(errs, id.Reload())
	}
	return errors.Join(errs...)
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
