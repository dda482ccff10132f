package cluster

// peerGRPCAddr resolves a node id to the gRPC address it serves, as
// membership gossips it.
func (n *Node) peerGRPCAddr(id string) (string, bool) {
	return n.MemberGRPCAddr(id)
}
