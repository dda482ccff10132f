package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Validity defaults of NewCA and NewCert, and how far back NotBefore is set so
// that a peer whose clock is a little behind accepts a fresh certificate.
const (
	defaultCAValidity   = 10 * 365 * 24 * time.Hour
	defaultCertValidity = 825 * 24 * time.Hour
	backdate            = 5 * time.Minute
)

// CertOptions describes a certificate for NewCert. A node certificate
// (NodeID set) is a server and a client certificate at once; otherwise at
// least one of Client and Server must be set.
type CertOptions struct {
	// CommonName is the subject's CN. For a client certificate it is the user
	// name (a broker with client CAs authenticates users by it). Empty for a
	// node certificate means the node id.
	CommonName string
	// NodeID makes a node certificate: it sets the URI SAN warren-node:<id>
	// (see NodeID) and both the server and client auth usages.
	NodeID string
	// IPs and DNSNames are the subject alternative names a client checks
	// when it dials the server by address or host name.
	IPs      []net.IP
	DNSNames []string
	// Client adds the client auth usage (implied by NodeID).
	Client bool
	// Server adds the server auth usage (implied by NodeID).
	Server bool
	// ValidFor is the validity period from now (default 825 days); it is cut
	// short at the CA's own expiry.
	ValidFor time.Duration
}

// NewCA makes a self-signed ECDSA P-256 CA certificate named commonName,
// valid for validFor from now (0: 10 years), and returns it and its private
// key (PKCS #8) as PEM. The CA signs leaf certificates only (path length 0).
func NewCA(commonName string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	if commonName == "" {
		return nil, nil, errors.New("certs: empty CA common name")
	}
	if validFor < 0 {
		return nil, nil, fmt.Errorf("certs: negative CA validity %v", validFor)
	}
	if validFor == 0 {
		validFor = defaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validFor),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	return encode(der, key)
}

// NewCert makes an ECDSA P-256 certificate described by o, signed by the CA
// given as PEM (as NewCA returns them), and returns it and its private key
// (PKCS #8) as PEM.
func NewCert(caCertPEM, caKeyPEM []byte, o CertOptions) (certPEM, keyPEM []byte, err error) {
	ca, caKey, err := parseCA(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, err
	}
	if o.NodeID != "" {
		o.Client, o.Server = true, true
		if o.CommonName == "" {
			o.CommonName = o.NodeID
		}
	}
	switch {
	case o.CommonName == "":
		return nil, nil, errors.New("certs: a certificate needs a common name or a node id")
	case !o.Client && !o.Server:
		return nil, nil, errors.New("certs: a certificate needs the client or server usage (or a node id, which implies both)")
	case o.ValidFor < 0:
		return nil, nil, fmt.Errorf("certs: negative validity %v", o.ValidFor)
	}
	if o.ValidFor == 0 {
		o.ValidFor = defaultCertValidity
	}
	now := time.Now()
	if !now.Before(ca.NotAfter) {
		return nil, nil, fmt.Errorf("certs: the CA %q expired at %s", ca.Subject.CommonName, ca.NotAfter.UTC().Format(time.RFC3339))
	}
	notAfter := now.Add(o.ValidFor)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	var usages []x509.ExtKeyUsage
	if o.Server {
		usages = append(usages, x509.ExtKeyUsageServerAuth)
	}
	if o.Client {
		usages = append(usages, x509.ExtKeyUsageClientAuth)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.CommonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           usages,
		IPAddresses:           o.IPs,
		DNSNames:              o.DNSNames,
	}
	if o.NodeID != "" {
		tmpl.URIs = append(tmpl.URIs, nodeURI(o.NodeID))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: certificate %q: %w", o.CommonName, err)
	}
	return encode(der, key)
}

// parseCA decodes a CA certificate and its private key from PEM and checks
// that they belong together and can sign certificates.
func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	certs, err := parseCertificates(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	ca := certs[0]
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, nil, fmt.Errorf("certs: certificate %q is not a CA that signs certificates", ca.Subject.CommonName)
	}
	block, err := keyBlock(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: CA key: %w", err)
	}
	key, err := parsePrivateKey(block)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: CA key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("certs: the CA key does not go with the CA certificate %q", ca.Subject.CommonName)
	}
	return ca, key, nil
}

// parsePrivateKey decodes a PKCS #8, SEC 1 or PKCS #1 private key.
func parsePrivateKey(block *pem.Block) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", key)
	}
	return signer, nil
}

// newSerial returns a random 128-bit serial number.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certs: serial number: %w", err)
	}
	return n, nil
}

// encode returns a certificate and its ECDSA key as PEM.
func encode(der []byte, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: encoding the key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
	return certPEM, keyPEM, nil
}
