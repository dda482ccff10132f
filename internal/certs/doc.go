// Package certs loads TLS identities from PEM files, reloads them without a
// restart, and makes a CA and certificates for a test or small cluster.
//
// # Loading and reloading
//
// [Load] reads [Files] (a CA bundle, a certificate and its key) into an
// [Identity]. The *tls.Config values an Identity hands out read its current
// certificate pair and CA pool on every handshake, so [Identity.Reload]
// (on SIGHUP, say) changes what new connections see, while established
// connections carry on. A reload whose files are bad keeps what was loaded
// before and returns an error naming the file and the fault.
//
//   - [Identity.ServerConfig] is a server (the client API): it presents the
//     pair, and with requireClientCert it asks every client for a
//     certificate signed by the CA (mutual TLS).
//   - [Identity.ClientConfig] is a client (the CLI, the SDK): it checks the
//     server's certificate against the CA (system roots without one) and the
//     host name it dials, and presents the pair when there is one.
//   - [Identity.MutualConfig] is both ends of a cluster link in one config:
//     each side presents the pair and accepts only a node certificate of the
//     CA (see below), whichever side dialled.
//
// # Node certificates
//
// A node certificate carries its node id as a URI SAN "warren-node:<id>"
// (percent-encoded where the id needs it); [NodeID] reads it back. Peers on
// the cluster port are identified by that id, not by host name or address:
// MutualConfig checks the chain and that the id is present, and the caller
// compares the id with the node it meant to reach or expects. A client
// certificate of the same CA carries no node id and is refused there, so a
// client of the broker cannot reach the cluster port with its certificate.
//
// # Making certificates
//
// [NewCA] and [NewCert] make an ECDSA P-256 CA and certificates signed by it
// with the standard library's crypto/x509, as `consul tls` does; the
// `warren tls` commands write them to files. They suit a test or a small
// cluster; a larger deployment will have its own PKI, whose files Load reads
// alike.
package certs
