package access

// What each broker operation needs, in one place for every API that
// offers it: the gRPC API's rules table (transport/access_rules.go) and
// the HTTP management API (package manage) both call these, so a user may
// do over HTTP exactly what it may do over gRPC. RabbitMQ's table of which
// operation needs which permission is followed where the operations match.

// GeneratedQueueName is what a declaration without a name is checked as:
// the prefix of the name the server will generate.
const GeneratedQueueName = "amq.gen-"

// DeclareExchangeNeeds: configure on the exchange; a passive declaration
// (a check that it exists) needs only access to the virtual host.
func DeclareExchangeNeeds(name string, passive bool) []Need {
	if passive {
		return []Need{VHostAccess()}
	}
	return []Need{OnExchange(Configure, name)}
}

// DeleteExchangeNeeds: configure on the exchange.
func DeleteExchangeNeeds(name string) []Need { return []Need{OnExchange(Configure, name)} }

// DeclareQueueNeeds: configure on the queue; with a dead-letter exchange
// also write on that exchange and read on the queue (RabbitMQ's check, so
// that dead-lettering cannot publish where the declarer may not). A
// passive declaration needs only access to the virtual host; name "" is
// checked as the generated name.
func DeclareQueueNeeds(name string, passive bool, deadLetterExchanges ...string) []Need {
	if passive {
		return []Need{VHostAccess()}
	}
	if name == "" {
		name = GeneratedQueueName
	}
	needs := []Need{OnQueue(Configure, name)}
	for _, dlx := range deadLetterExchanges {
		needs = append(needs, OnExchange(Write, dlx), OnQueue(Read, name))
	}
	return needs
}

// DeleteQueueNeeds: configure on the queue.
func DeleteQueueNeeds(name string) []Need { return []Need{OnQueue(Configure, name)} }

// PurgeQueueNeeds: read on the queue (RabbitMQ's).
func PurgeQueueNeeds(name string) []Need { return []Need{OnQueue(Read, name)} }

// GetNeeds: read on the queue.
func GetNeeds(queue string) []Need { return []Need{OnQueue(Read, queue)} }

// BindNeeds are the permissions a bind or unbind needs: write on the
// destination (a queue, or an exchange when toExchange), read on the
// source exchange.
func BindNeeds(source, dest string, toExchange bool) []Need {
	if toExchange {
		return []Need{OnExchange(Write, dest), OnExchange(Read, source)}
	}
	return []Need{OnQueue(Write, dest), OnExchange(Read, source)}
}

// PublishNeeds: write on every exchange published to, each named once;
// access to the virtual host when there are none.
func PublishNeeds(exchanges ...string) []Need {
	seen := make(map[string]bool, 1)
	needs := make([]Need, 0, 1)
	for _, x := range exchanges {
		if !seen[x] {
			seen[x] = true
			needs = append(needs, OnExchange(Write, x))
		}
	}
	if len(needs) == 0 {
		needs = append(needs, VHostAccess())
	}
	return needs
}

// ClusterStatusNeeds: the monitoring tag (members, groups, leaders).
func ClusterStatusNeeds() []Need { return []Need{Tag(TagMonitoring)} }

// AdminNeeds: the administrator tag (users, virtual hosts, permissions,
// membership changes, gossip keys).
func AdminNeeds() []Need { return []Need{Tag(TagAdministrator)} }

// ListingNeeds: the monitoring tag or access to the virtual host.
func ListingNeeds() []Need { return []Need{Listing()} }
