package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/internal/certs"
)

// The files of `warren tls ca create`, which `warren tls cert create
// --ca-dir` reads.
const (
	caCertFile = "warren-ca.pem"
	caKeyFile  = "warren-ca-key.pem"
)

// maxDays bounds --days (100 years).
const maxDays = 36500

func newTLSCmd(a *app) *cobra.Command {
	return group("tls", "Make a CA and node or client certificates for a test or small cluster",
		group("ca", "Make a certificate authority", newTLSCACreateCmd(a)),
		group("cert", "Make node and client certificates signed by the CA", newTLSCertCreateCmd(a)),
	)
}

func newTLSCACreateCmd(a *app) *cobra.Command {
	var (
		dir, commonName string
		days            int
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Write a new CA: " + caCertFile + " and " + caKeyFile,
		Long: `Write a new certificate authority (ECDSA P-256, made with Go's crypto/x509)
to --dir: its certificate ` + caCertFile + `, which every node and client is given
(--tls-ca of the CLI; --tls-client-ca and --cluster-ca of warren-node), and its
private key ` + caKeyFile + ` (mode 0600), which only "warren tls cert create"
needs: keep it off the nodes. Existing files are never overwritten.

This suits a test or a small cluster, as "consul tls" does; files from another
PKI work alike.`,
		Args: nArgs(0, 0),
		RunE: func(*cobra.Command, []string) error {
			if err := checkDays(days); err != nil {
				return err
			}
			if commonName == "" {
				return usagef("--common-name must not be empty")
			}
			certPEM, keyPEM, err := certs.NewCA(commonName, time.Duration(days)*24*time.Hour)
			if err != nil {
				return runError{err}
			}
			certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
			if err := writeNewPair(dir, certPath, certPEM, keyPath, keyPEM); err != nil {
				return runError{err}
			}
			notAfter, err := notAfterOf(certPEM)
			if err != nil {
				return runError{err}
			}
			return a.printer().emit(
				map[string]any{"cert": certPath, "key": keyPath, "common_name": commonName, "not_after": notAfter},
				fmt.Sprintf("wrote CA certificate %s and key %s (%q, valid until %s); keep the key secret",
					certPath, keyPath, commonName, notAfter.Format(time.DateOnly)))
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", ".", "write the files to directory `DIR` (made when missing)")
	f.StringVar(&commonName, "common-name", "Warren CA", "the CA's common `NAME`")
	f.IntVar(&days, "days", 3650, "validity in days from now")
	return cmd
}

// certFlags are the flags of `warren tls cert create`.
type certFlags struct {
	caDir, caFile, caKeyFile string
	node, client             string
	ips, dnsNames            []string
	days                     int
	outDir                   string
}

func newTLSCertCreateCmd(a *app) *cobra.Command {
	var fl certFlags
	cmd := &cobra.Command{
		Use:   "create (--node ID | --client NAME) (--ca-dir DIR | --ca FILE --ca-key FILE)",
		Short: "Write a node or client certificate and its key, signed by the CA",
		Long: `Write a certificate and its key (mode 0600), signed by the CA that
"warren tls ca create" made, to --out-dir: ID.pem and ID-key.pem for --node ID,
NAME.pem and NAME-key.pem for --client NAME. Existing files are never
overwritten. The CA is read from --ca-dir (its ` + caCertFile + ` and
` + caKeyFile + `) or from --ca and --ca-key.

--node ID makes a node certificate: it carries the node id (the URI SAN
warren-node:ID, which peers check on the cluster port) and both the server and
the client usage, so it serves as the node's --tls-cert and --cluster-cert
alike. Its addresses are the --ip and --dns given; with neither, IP 127.0.0.1
and DNS localhost (a node on this machine). Clients check the address they
dial against these, so list every address and name clients use to reach the
node (its --grpc-addr, and a load balancer's name if there is one).

--client NAME makes a client certificate whose common name is NAME, for nodes
that require client certificates (--tls-client-ca).`,
		Args: nArgs(0, 0),
		RunE: func(*cobra.Command, []string) error {
			return createCert(a, fl)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.caDir, "ca-dir", "", "read the CA from "+caCertFile+" and "+caKeyFile+" in directory `DIR`")
	f.StringVar(&fl.caFile, "ca", "", "CA certificate `FILE` (with --ca-key, instead of --ca-dir)")
	f.StringVar(&fl.caKeyFile, "ca-key", "", "CA private key `FILE` (with --ca)")
	f.StringVar(&fl.node, "node", "", "make a node certificate for node `ID` (its --id)")
	f.StringVar(&fl.client, "client", "", "make a client certificate for user `NAME` (its common name)")
	f.StringArrayVar(&fl.ips, "ip", nil, "`IP` address of the node (repeatable; default 127.0.0.1 when neither --ip nor --dns is given)")
	f.StringArrayVar(&fl.dnsNames, "dns", nil, "DNS `NAME` of the node (repeatable; default localhost when neither --ip nor --dns is given)")
	f.IntVar(&fl.days, "days", 825, "validity in days from now (cut short at the CA's expiry)")
	f.StringVar(&fl.outDir, "out-dir", ".", "write the files to directory `DIR` (made when missing)")
	return cmd
}

// createCert checks fl, makes the certificate and writes it.
func createCert(a *app, fl certFlags) error {
	o, name, err := fl.options()
	if err != nil {
		return err
	}
	caPath, caKeyPath := fl.caFile, fl.caKeyFile
	if fl.caDir != "" {
		caPath, caKeyPath = filepath.Join(fl.caDir, caCertFile), filepath.Join(fl.caDir, caKeyFile)
	}
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return runError{fmt.Errorf("CA certificate: %w", err)}
	}
	caKeyPEM, err := os.ReadFile(caKeyPath)
	if err != nil {
		return runError{fmt.Errorf("CA key: %w", err)}
	}
	certPEM, keyPEM, err := certs.NewCert(caPEM, caKeyPEM, o)
	if err != nil {
		return runError{fmt.Errorf("%w (CA %s, key %s)", err, caPath, caKeyPath)}
	}
	certPath, keyPath := filepath.Join(fl.outDir, name+".pem"), filepath.Join(fl.outDir, name+"-key.pem")
	if err := writeNewPair(fl.outDir, certPath, certPEM, keyPath, keyPEM); err != nil {
		return runError{err}
	}
	notAfter, err := notAfterOf(certPEM)
	if err != nil {
		return runError{err}
	}
	ips := make([]string, len(o.IPs))
	for i, ip := range o.IPs {
		ips[i] = ip.String()
	}
	out := map[string]any{"cert": certPath, "key": keyPath, "not_after": notAfter}
	var text string
	if o.NodeID != "" {
		out["node_id"], out["ips"], out["dns"] = o.NodeID, ips, o.DNSNames
		text = fmt.Sprintf("wrote node certificate %s and key %s for node id %q (IPs %s; DNS %s; valid until %s)",
			certPath, keyPath, o.NodeID, orNone(ips), orNone(o.DNSNames), notAfter.Format(time.DateOnly))
	} else {
		out["client"] = o.CommonName
		text = fmt.Sprintf("wrote client certificate %s and key %s for user %q (valid until %s)",
			certPath, keyPath, o.CommonName, notAfter.Format(time.DateOnly))
	}
	return a.printer().emit(out, text)
}

// options checks the flags' combination and values, and returns the
// certificate's options and the base name of its files.
func (fl certFlags) options() (certs.CertOptions, string, error) {
	var o certs.CertOptions
	if (fl.node == "") == (fl.client == "") {
		return o, "", usagef("give exactly one of --node ID and --client NAME")
	}
	switch {
	case fl.caDir != "" && (fl.caFile != "" || fl.caKeyFile != ""):
		return o, "", usagef("--ca-dir excludes --ca and --ca-key")
	case fl.caDir == "" && (fl.caFile == "" || fl.caKeyFile == ""):
		return o, "", usagef("give the CA: --ca-dir DIR, or --ca FILE and --ca-key FILE")
	}
	if err := checkDays(fl.days); err != nil {
		return o, "", err
	}
	o.ValidFor = time.Duration(fl.days) * 24 * time.Hour
	if fl.client != "" {
		if len(fl.ips) > 0 || len(fl.dnsNames) > 0 {
			return o, "", usagef("--ip and --dns are a node's addresses; a --client certificate has none")
		}
		if err := checkFileName("--client", fl.client); err != nil {
			return o, "", err
		}
		o.CommonName, o.Client = fl.client, true
		return o, fl.client, nil
	}
	if err := checkFileName("--node", fl.node); err != nil {
		return o, "", err
	}
	o.NodeID = fl.node
	for _, s := range fl.ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return o, "", usagef("--ip %q is not an IP address", s)
		}
		o.IPs = append(o.IPs, ip)
	}
	for _, s := range fl.dnsNames {
		if s == "" || strings.ContainsAny(s, " \t/:") {
			return o, "", usagef("--dns %q is not a DNS name", s)
		}
		o.DNSNames = append(o.DNSNames, s)
	}
	if len(o.IPs) == 0 && len(o.DNSNames) == 0 {
		o.IPs, o.DNSNames = []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"}
	}
	return o, fl.node, nil
}

// checkFileName refuses a node id or user name that cannot name a file in
// the output directory.
func checkFileName(flag, name string) error {
	if name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return usagef("%s %q cannot name the certificate's files (%s.pem): no /, \\ or NUL, not . or ..", flag, name, name)
	}
	return nil
}

func checkDays(days int) error {
	if days < 1 || days > maxDays {
		return usagef("--days must be from 1 to %d, not %d", maxDays, days)
	}
	return nil
}

// writeNewPair writes a certificate (mode 0644) and its key (mode 0600) to
// new files in dir, making dir when missing. It refuses to overwrite either
// file, and leaves neither behind when it fails.
func writeNewPair(dir, certPath string, certPEM []byte, keyPath string, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists: not overwriting it (remove it, or write to another directory)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := writeNewFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNewFile(certPath, certPEM, 0o644); err != nil {
		_ = os.Remove(keyPath)
		return err
	}
	return nil
}

// writeNewFile creates path with data and mode; it fails when path exists.
func writeNewFile(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: not overwriting it (remove it, or write to another directory)", path)
		}
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// notAfterOf returns the expiry of the certificate in certPEM.
func notAfterOf(certPEM []byte) (time.Time, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return time.Time{}, errors.New("no PEM block in the certificate made")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, err
	}
	return c.NotAfter.UTC(), nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
