package transport

import (
	"github.com/warrenmq/warren/access"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// rule states what one RPC's request needs; the access package decides
// whether the caller has it. This table is the one place that says who may
// call what: an RPC missing from it is refused (TestEveryMethodHasARule
// keeps it complete). RabbitMQ's table of which operation needs which
// permission is followed where the operations match.
type rule func(req any) []access.Need

var (
	onlyVHost  = func(any) []access.Need { return []access.Need{access.VHostAccess()} }
	listing    = func(any) []access.Need { return []access.Need{access.Listing()} }
	monitoring = func(any) []access.Need { return []access.Need{access.Tag(access.TagMonitoring)} }
	admin      = func(any) []access.Need { return []access.Need{access.Tag(access.TagAdministrator)} }
	anyUser    = func(any) []access.Need { return nil }
)

// publicMethods need no login at all: probes (gRPC health) and service
// discovery (reflection) that load balancers and tools call without
// credentials. They reveal nothing of the broker's state. They are every
// method of publicServices (probes.go), and no BrokerService or
// AccessService method (TestEveryMethodHasARule).
var publicMethods = methodsOf(publicServices...)

var rules = map[string]rule{
	pb.BrokerService_DeclareExchange_FullMethodName: func(r any) []access.Need {
		x := r.(*pb.DeclareExchangeRequest)
		return access.DeclareExchangeNeeds(x.GetName(), x.GetPassive())
	},
	pb.BrokerService_DeleteExchange_FullMethodName: func(r any) []access.Need {
		return []access.Need{access.OnExchange(access.Configure, r.(*pb.DeleteExchangeRequest).GetName())}
	},
	pb.BrokerService_ListExchanges_FullMethodName: listing,
	pb.BrokerService_DeclareQueue_FullMethodName:  declareQueueNeeds,
	pb.BrokerService_DeleteQueue_FullMethodName: func(r any) []access.Need {
		return []access.Need{access.OnQueue(access.Configure, r.(*pb.DeleteQueueRequest).GetName())}
	},
	pb.BrokerService_PurgeQueue_FullMethodName: func(r any) []access.Need {
		return []access.Need{access.OnQueue(access.Read, r.(*pb.PurgeQueueRequest).GetName())}
	},
	pb.BrokerService_ListQueues_FullMethodName: listing,
	// As RabbitMQ: write on the destination (a queue or an exchange), read
	// on the source.
	pb.BrokerService_BindQueue_FullMethodName: func(r any) []access.Need {
		x := r.(*pb.BindQueueRequest)
		return bindNeeds(x.GetExchange(), x.GetQueue(), x.GetDestinationKind())
	},
	pb.BrokerService_UnbindQueue_FullMethodName: func(r any) []access.Need {
		x := r.(*pb.UnbindQueueRequest)
		return bindNeeds(x.GetExchange(), x.GetQueue(), x.GetDestinationKind())
	},
	pb.BrokerService_ListBindings_FullMethodName: listing,
	pb.BrokerService_Publish_FullMethodName:      publishNeeds,
	// A consume stream needs read on each queue it subscribes to: checked
	// per Subscribe message (consumeNeeds), after this.
	pb.BrokerService_Consume_FullMethodName: onlyVHost,
	pb.BrokerService_Get_FullMethodName: func(r any) []access.Need {
		return []access.Need{access.OnQueue(access.Read, r.(*pb.GetRequest).GetQueue())}
	},
	// Settling touches only the session's own deliveries.
	pb.BrokerService_Settle_FullMethodName:        onlyVHost,
	pb.BrokerService_Session_FullMethodName:       onlyVHost,
	pb.BrokerService_ClusterStatus_FullMethodName: monitoring,
	pb.BrokerService_LeaveCluster_FullMethodName:  admin,
	pb.BrokerService_RemoveNode_FullMethodName:    admin,
	// Listing shows the keys themselves: administrators only.
	pb.BrokerService_GossipKey_FullMethodName: admin,

	pb.AccessService_WhoAmI_FullMethodName:           anyUser,
	pb.AccessService_AddUser_FullMethodName:          admin,
	pb.AccessService_DeleteUser_FullMethodName:       admin,
	pb.AccessService_ChangePassword_FullMethodName:   admin,
	pb.AccessService_SetUserTags_FullMethodName:      admin,
	pb.AccessService_ListUsers_FullMethodName:        admin,
	pb.AccessService_SetPermissions_FullMethodName:   admin,
	pb.AccessService_ClearPermissions_FullMethodName: admin,
	pb.AccessService_ListPermissions_FullMethodName:  admin,
	pb.AccessService_AddVHost_FullMethodName:         admin,
	pb.AccessService_DeleteVHost_FullMethodName:      admin,
	pb.AccessService_ListVHosts_FullMethodName:       admin,
	pb.AccessService_SetVHostLimits_FullMethodName:   admin,
}

// declareQueueNeeds: access's rule, with the dead-letter exchanges the
// arguments name.
func declareQueueNeeds(r any) []access.Need {
	x := r.(*pb.DeclareQueueRequest)
	var dlx []string
	for _, k := range [...]string{"x-dead-letter-exchange", "dead-letter-exchange"} {
		if v, ok := x.GetArguments()[k].GetKind().(*pb.Value_StringValue); ok {
			dlx = append(dlx, v.StringValue)
		}
	}
	return access.DeclareQueueNeeds(x.GetName(), x.GetPassive(), dlx)
}

// publishNeeds: write on every exchange the request publishes to, each
// named once.
func publishNeeds(r any) []access.Need {
	entries := r.(*pb.PublishRequest).GetEntries()
	seen := make(map[string]bool, 1)
	needs := make([]access.Need, 0, 1)
	for _, e := range entries {
		if !seen[e.GetExchange()] {
			seen[e.GetExchange()] = true
			needs = append(needs, access.OnExchange(access.Write, e.GetExchange()))
		}
	}
	if len(needs) == 0 {
		needs = append(needs, access.VHostAccess())
	}
	return needs
}

// consumeNeeds is what one message of a consume stream needs: read on the
// queue of a Subscribe; nothing for settles.
func consumeNeeds(r *pb.ConsumeRequest) []access.Need {
	if sub := r.GetSubscribe(); sub != nil {
		return []access.Need{access.OnQueue(access.Read, sub.GetQueue())}
	}
	return nil
}

// bindNeeds are access's rule for a bind or unbind.
func bindNeeds(source, dest string, kind pb.DestinationKind) []access.Need {
	return access.BindNeeds(source, dest, toExchange(kind))
}
