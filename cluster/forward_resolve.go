package cluster

// peerGRPCAddr resolves a node id to the gRPC address it serves, from
// membership. Until membership gossips addresses, no peer is known and
// every forward fails with the NotLeaderError naming the leader.
func (n *Node) peerGRPCAddr(id string) (string, bool) {
	return "", false
}
