package access

// What the operations shared by the gRPC and the AMQP ports need, stated
// once so both ports decide alike (RabbitMQ's table of which operation
// needs which permission). A port maps its own request to these.

// GeneratedQueueName is what a declaration without a name is checked as:
// the prefix of the name the server will generate.
const GeneratedQueueName = "amq.gen-"

// DeclareExchangeNeeds: a passive declaration only checks existence
// (access to the virtual host); else configure on the exchange.
func DeclareExchangeNeeds(name string, passive bool) []Need {
	if passive {
		return []Need{VHostAccess()}
	}
	return []Need{OnExchange(Configure, name)}
}

// DeclareQueueNeeds: configure on the queue (name "" is a generated one);
// with a dead-letter exchange also write on that exchange and read on the
// queue (RabbitMQ's check, so that dead-lettering cannot publish where the
// declarer may not). deadLetterExchanges are the string values of the
// x-dead-letter-exchange (or dead-letter-exchange) arguments given.
func DeclareQueueNeeds(name string, passive bool, deadLetterExchanges []string) []Need {
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

// BindNeeds are the permissions a bind or unbind needs: write on the
// destination (a queue, or an exchange when toExchange), read on the
// source exchange.
func BindNeeds(source, dest string, toExchange bool) []Need {
	if toExchange {
		return []Need{OnExchange(Write, dest), OnExchange(Read, source)}
	}
	return []Need{OnQueue(Write, dest), OnExchange(Read, source)}
}
