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
	listing    = func(any) []access.Need { return access.ListingNeeds() }
	monitoring = func(any) []access.Need { return access.ClusterStatusNeeds() }
	admin      = func(any) []access.Need { return access.AdminNeeds() }
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
		return access.DeleteExchangeNeeds(r.(*pb.DeleteExchangeRequest).GetName())
	},
	pb.BrokerService_ListExchanges_FullMethodName: listing,
	pb.BrokerService_DeclareQueue_FullMethodName:  declareQueueNeeds,
	pb.BrokerService_DeleteQueue_FullMethodName: func(r any) []access.Need {
		return access.DeleteQueueNeeds(r.(*pb.DeleteQueueRequest).GetName())
	},
	pb.BrokerService_PurgeQueue_FullMethodName: func(r any) []access.Need {
		return access.PurgeQueueNeeds(r.(*pb.PurgeQueueRequest).GetName())
	},
	pb.BrokerService_ListQueues_FullMethodName: listing,
	// As RabbitMQ: write on the destination (a queue or an exchange), read
	// on the source.
	pb.BrokerService_BindQueue_FullMethodName: func(r any) []access.Need {
		x := r.(*pb.BindQueueRequest)
		return access.BindNeeds(x.GetExchange(), x.GetQueue(), toExchange(x.GetDestinationKind()))
	},
	pb.BrokerService_UnbindQueue_FullMethodName: func(r any) []access.Need {
		x := r.(*pb.UnbindQueueRequest)
		return access.BindNeeds(x.GetExchange(), x.GetQueue(), toExchange(x.GetDestinationKind()))
	},
	pb.BrokerService_ListBindings_FullMethodName: listing,
	pb.BrokerService_Publish_FullMethodName:      publishNeeds,
	// A consume stream needs read on each queue it subscribes to: checked
	// per Subscribe message (consumeNeeds), after this.
	pb.BrokerService_Consume_FullMethodName: onlyVHost,
	pb.BrokerService_Get_FullMethodName: func(r any) []access.Need {
		return access.GetNeeds(r.(*pb.GetRequest).GetQueue())
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

// declareQueueNeeds reads a declaration's dead-letter exchange for
// access.DeclareQueueNeeds.
func declareQueueNeeds(r any) []access.Need {
	x := r.(*pb.DeclareQueueRequest)
	var dlx []string
	for _, k := range [...]string{"x-dead-letter-exchange", "dead-letter-exchange"} {
		if v, ok := x.GetArguments()[k].GetKind().(*pb.Value_StringValue); ok {
			dlx = append(dlx, v.StringValue)
		}
	}
	return access.DeclareQueueNeeds(x.GetName(), x.GetPassive(), dlx...)
}

// publishNeeds names the exchanges of a publish for access.PublishNeeds.
func publishNeeds(r any) []access.Need {
	entries := r.(*pb.PublishRequest).GetEntries()
	exchanges := make([]string, len(entries))
	for i, e := range entries {
		exchanges[i] = e.GetExchange()
	}
	return access.PublishNeeds(exchanges...)
}

// consumeNeeds is what one message of a consume stream needs: read on the
// queue of a Subscribe; nothing for settles.
func consumeNeeds(r *pb.ConsumeRequest) []access.Need {
	if sub := r.GetSubscribe(); sub != nil {
		return access.GetNeeds(sub.GetQueue())
	}
	return nil
}
