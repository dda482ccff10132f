// The AMQP 0-9-1 methods, written out from the method table of the
// specification (class and method ids, field order and types).

package wire

// Class ids.
const (
	ClassConnection = 10
	ClassChannel    = 20
	ClassExchange   = 40
	ClassQueue      = 50
	ClassBasic      = 60
	ClassConfirm    = 85
	ClassTx         = 90
)

// ConnectionStart is connection.start.
type ConnectionStart struct {
	VersionMajor     uint8
	VersionMinor     uint8
	ServerProperties Table
	Mechanisms       []byte
	Locales          []byte
}

func (*ConnectionStart) ID() (class, method uint16) { return 10, 10 }
func (*ConnectionStart) Name() string               { return "connection.start" }
func (m *ConnectionStart) fields() []any {
	return []any{&m.VersionMajor, &m.VersionMinor, &m.ServerProperties, &m.Mechanisms, &m.Locales}
}

// ConnectionStartOk is connection.start-ok.
type ConnectionStartOk struct {
	ClientProperties Table
	Mechanism        string
	Response         []byte
	Locale           string
}

func (*ConnectionStartOk) ID() (class, method uint16) { return 10, 11 }
func (*ConnectionStartOk) Name() string               { return "connection.start-ok" }
func (m *ConnectionStartOk) fields() []any {
	return []any{&m.ClientProperties, &m.Mechanism, &m.Response, &m.Locale}
}

// ConnectionSecure is connection.secure.
type ConnectionSecure struct {
	Challenge []byte
}

func (*ConnectionSecure) ID() (class, method uint16) { return 10, 20 }
func (*ConnectionSecure) Name() string               { return "connection.secure" }
func (m *ConnectionSecure) fields() []any            { return []any{&m.Challenge} }

// ConnectionSecureOk is connection.secure-ok.
type ConnectionSecureOk struct {
	Response []byte
}

func (*ConnectionSecureOk) ID() (class, method uint16) { return 10, 21 }
func (*ConnectionSecureOk) Name() string               { return "connection.secure-ok" }
func (m *ConnectionSecureOk) fields() []any            { return []any{&m.Response} }

// ConnectionTune is connection.tune.
type ConnectionTune struct {
	ChannelMax uint16
	FrameMax   uint32
	Heartbeat  uint16
}

func (*ConnectionTune) ID() (class, method uint16) { return 10, 30 }
func (*ConnectionTune) Name() string               { return "connection.tune" }
func (m *ConnectionTune) fields() []any            { return []any{&m.ChannelMax, &m.FrameMax, &m.Heartbeat} }

// ConnectionTuneOk is connection.tune-ok.
type ConnectionTuneOk struct {
	ChannelMax uint16
	FrameMax   uint32
	Heartbeat  uint16
}

func (*ConnectionTuneOk) ID() (class, method uint16) { return 10, 31 }
func (*ConnectionTuneOk) Name() string               { return "connection.tune-ok" }
func (m *ConnectionTuneOk) fields() []any            { return []any{&m.ChannelMax, &m.FrameMax, &m.Heartbeat} }

// ConnectionOpen is connection.open.
type ConnectionOpen struct {
	VirtualHost string
	Reserved1   string
	Reserved2   bool
}

func (*ConnectionOpen) ID() (class, method uint16) { return 10, 40 }
func (*ConnectionOpen) Name() string               { return "connection.open" }
func (m *ConnectionOpen) fields() []any            { return []any{&m.VirtualHost, &m.Reserved1, &m.Reserved2} }

// ConnectionOpenOk is connection.open-ok.
type ConnectionOpenOk struct {
	Reserved1 string
}

func (*ConnectionOpenOk) ID() (class, method uint16) { return 10, 41 }
func (*ConnectionOpenOk) Name() string               { return "connection.open-ok" }
func (m *ConnectionOpenOk) fields() []any            { return []any{&m.Reserved1} }

// ConnectionClose is connection.close.
type ConnectionClose struct {
	ReplyCode uint16
	ReplyText string
	ClassID   uint16
	MethodID  uint16
}

func (*ConnectionClose) ID() (class, method uint16) { return 10, 50 }
func (*ConnectionClose) Name() string               { return "connection.close" }
func (m *ConnectionClose) fields() []any {
	return []any{&m.ReplyCode, &m.ReplyText, &m.ClassID, &m.MethodID}
}

// ConnectionCloseOk is connection.close-ok.
type ConnectionCloseOk struct {
}

func (*ConnectionCloseOk) ID() (class, method uint16) { return 10, 51 }
func (*ConnectionCloseOk) Name() string               { return "connection.close-ok" }
func (*ConnectionCloseOk) fields() []any              { return nil }

// ConnectionBlocked is connection.blocked.
type ConnectionBlocked struct {
	Reason string
}

func (*ConnectionBlocked) ID() (class, method uint16) { return 10, 60 }
func (*ConnectionBlocked) Name() string               { return "connection.blocked" }
func (m *ConnectionBlocked) fields() []any            { return []any{&m.Reason} }

// ConnectionUnblocked is connection.unblocked.
type ConnectionUnblocked struct {
}

func (*ConnectionUnblocked) ID() (class, method uint16) { return 10, 61 }
func (*ConnectionUnblocked) Name() string               { return "connection.unblocked" }
func (*ConnectionUnblocked) fields() []any              { return nil }

// ConnectionUpdateSecret is connection.update-secret.
type ConnectionUpdateSecret struct {
	NewSecret []byte
	Reason    string
}

func (*ConnectionUpdateSecret) ID() (class, method uint16) { return 10, 70 }
func (*ConnectionUpdateSecret) Name() string               { return "connection.update-secret" }
func (m *ConnectionUpdateSecret) fields() []any            { return []any{&m.NewSecret, &m.Reason} }

// ConnectionUpdateSecretOk is connection.update-secret-ok.
type ConnectionUpdateSecretOk struct {
}

func (*ConnectionUpdateSecretOk) ID() (class, method uint16) { return 10, 71 }
func (*ConnectionUpdateSecretOk) Name() string               { return "connection.update-secret-ok" }
func (*ConnectionUpdateSecretOk) fields() []any              { return nil }

// ChannelOpen is channel.open.
type ChannelOpen struct {
	Reserved1 string
}

func (*ChannelOpen) ID() (class, method uint16) { return 20, 10 }
func (*ChannelOpen) Name() string               { return "channel.open" }
func (m *ChannelOpen) fields() []any            { return []any{&m.Reserved1} }

// ChannelOpenOk is channel.open-ok.
type ChannelOpenOk struct {
	Reserved1 []byte
}

func (*ChannelOpenOk) ID() (class, method uint16) { return 20, 11 }
func (*ChannelOpenOk) Name() string               { return "channel.open-ok" }
func (m *ChannelOpenOk) fields() []any            { return []any{&m.Reserved1} }

// ChannelFlow is channel.flow.
type ChannelFlow struct {
	Active bool
}

func (*ChannelFlow) ID() (class, method uint16) { return 20, 20 }
func (*ChannelFlow) Name() string               { return "channel.flow" }
func (m *ChannelFlow) fields() []any            { return []any{&m.Active} }

// ChannelFlowOk is channel.flow-ok.
type ChannelFlowOk struct {
	Active bool
}

func (*ChannelFlowOk) ID() (class, method uint16) { return 20, 21 }
func (*ChannelFlowOk) Name() string               { return "channel.flow-ok" }
func (m *ChannelFlowOk) fields() []any            { return []any{&m.Active} }

// ChannelClose is channel.close.
type ChannelClose struct {
	ReplyCode uint16
	ReplyText string
	ClassID   uint16
	MethodID  uint16
}

func (*ChannelClose) ID() (class, method uint16) { return 20, 40 }
func (*ChannelClose) Name() string               { return "channel.close" }
func (m *ChannelClose) fields() []any {
	return []any{&m.ReplyCode, &m.ReplyText, &m.ClassID, &m.MethodID}
}

// ChannelCloseOk is channel.close-ok.
type ChannelCloseOk struct {
}

func (*ChannelCloseOk) ID() (class, method uint16) { return 20, 41 }
func (*ChannelCloseOk) Name() string               { return "channel.close-ok" }
func (*ChannelCloseOk) fields() []any              { return nil }

// ExchangeDeclare is exchange.declare.
type ExchangeDeclare struct {
	Reserved1  uint16
	Exchange   string
	Type       string
	Passive    bool
	Durable    bool
	AutoDelete bool
	Internal   bool
	NoWait     bool
	Arguments  Table
}

func (*ExchangeDeclare) ID() (class, method uint16) { return 40, 10 }
func (*ExchangeDeclare) Name() string               { return "exchange.declare" }
func (m *ExchangeDeclare) fields() []any {
	return []any{&m.Reserved1, &m.Exchange, &m.Type, &m.Passive, &m.Durable, &m.AutoDelete, &m.Internal, &m.NoWait, &m.Arguments}
}

// ExchangeDeclareOk is exchange.declare-ok.
type ExchangeDeclareOk struct {
}

func (*ExchangeDeclareOk) ID() (class, method uint16) { return 40, 11 }
func (*ExchangeDeclareOk) Name() string               { return "exchange.declare-ok" }
func (*ExchangeDeclareOk) fields() []any              { return nil }

// ExchangeDelete is exchange.delete.
type ExchangeDelete struct {
	Reserved1 uint16
	Exchange  string
	IfUnused  bool
	NoWait    bool
}

func (*ExchangeDelete) ID() (class, method uint16) { return 40, 20 }
func (*ExchangeDelete) Name() string               { return "exchange.delete" }
func (m *ExchangeDelete) fields() []any {
	return []any{&m.Reserved1, &m.Exchange, &m.IfUnused, &m.NoWait}
}

// ExchangeDeleteOk is exchange.delete-ok.
type ExchangeDeleteOk struct {
}

func (*ExchangeDeleteOk) ID() (class, method uint16) { return 40, 21 }
func (*ExchangeDeleteOk) Name() string               { return "exchange.delete-ok" }
func (*ExchangeDeleteOk) fields() []any              { return nil }

// ExchangeBind is exchange.bind.
type ExchangeBind struct {
	Reserved1   uint16
	Destination string
	Source      string
	RoutingKey  string
	NoWait      bool
	Arguments   Table
}

func (*ExchangeBind) ID() (class, method uint16) { return 40, 30 }
func (*ExchangeBind) Name() string               { return "exchange.bind" }
func (m *ExchangeBind) fields() []any {
	return []any{&m.Reserved1, &m.Destination, &m.Source, &m.RoutingKey, &m.NoWait, &m.Arguments}
}

// ExchangeBindOk is exchange.bind-ok.
type ExchangeBindOk struct {
}

func (*ExchangeBindOk) ID() (class, method uint16) { return 40, 31 }
func (*ExchangeBindOk) Name() string               { return "exchange.bind-ok" }
func (*ExchangeBindOk) fields() []any              { return nil }

// ExchangeUnbind is exchange.unbind.
type ExchangeUnbind struct {
	Reserved1   uint16
	Destination string
	Source      string
	RoutingKey  string
	NoWait      bool
	Arguments   Table
}

func (*ExchangeUnbind) ID() (class, method uint16) { return 40, 40 }
func (*ExchangeUnbind) Name() string               { return "exchange.unbind" }
func (m *ExchangeUnbind) fields() []any {
	return []any{&m.Reserved1, &m.Destination, &m.Source, &m.RoutingKey, &m.NoWait, &m.Arguments}
}

// ExchangeUnbindOk is exchange.unbind-ok.
type ExchangeUnbindOk struct {
}

func (*ExchangeUnbindOk) ID() (class, method uint16) { return 40, 51 }
func (*ExchangeUnbindOk) Name() string               { return "exchange.unbind-ok" }
func (*ExchangeUnbindOk) fields() []any              { return nil }

// QueueDeclare is queue.declare.
type QueueDeclare struct {
	Reserved1  uint16
	Queue      string
	Passive    bool
	Durable    bool
	Exclusive  bool
	AutoDelete bool
	NoWait     bool
	Arguments  Table
}

func (*QueueDeclare) ID() (class, method uint16) { return 50, 10 }
func (*QueueDeclare) Name() string               { return "queue.declare" }
func (m *QueueDeclare) fields() []any {
	return []any{&m.Reserved1, &m.Queue, &m.Passive, &m.Durable, &m.Exclusive, &m.AutoDelete, &m.NoWait, &m.Arguments}
}

// QueueDeclareOk is queue.declare-ok.
type QueueDeclareOk struct {
	Queue         string
	MessageCount  uint32
	ConsumerCount uint32
}

func (*QueueDeclareOk) ID() (class, method uint16) { return 50, 11 }
func (*QueueDeclareOk) Name() string               { return "queue.declare-ok" }
func (m *QueueDeclareOk) fields() []any            { return []any{&m.Queue, &m.MessageCount, &m.ConsumerCount} }

// QueueBind is queue.bind.
type QueueBind struct {
	Reserved1  uint16
	Queue      string
	Exchange   string
	RoutingKey string
	NoWait     bool
	Arguments  Table
}

func (*QueueBind) ID() (class, method uint16) { return 50, 20 }
func (*QueueBind) Name() string               { return "queue.bind" }
func (m *QueueBind) fields() []any {
	return []any{&m.Reserved1, &m.Queue, &m.Exchange, &m.RoutingKey, &m.NoWait, &m.Arguments}
}

// QueueBindOk is queue.bind-ok.
type QueueBindOk struct {
}

func (*QueueBindOk) ID() (class, method uint16) { return 50, 21 }
func (*QueueBindOk) Name() string               { return "queue.bind-ok" }
func (*QueueBindOk) fields() []any              { return nil }

// QueuePurge is queue.purge.
type QueuePurge struct {
	Reserved1 uint16
	Queue     string
	NoWait    bool
}

func (*QueuePurge) ID() (class, method uint16) { return 50, 30 }
func (*QueuePurge) Name() string               { return "queue.purge" }
func (m *QueuePurge) fields() []any            { return []any{&m.Reserved1, &m.Queue, &m.NoWait} }

// QueuePurgeOk is queue.purge-ok.
type QueuePurgeOk struct {
	MessageCount uint32
}

func (*QueuePurgeOk) ID() (class, method uint16) { return 50, 31 }
func (*QueuePurgeOk) Name() string               { return "queue.purge-ok" }
func (m *QueuePurgeOk) fields() []any            { return []any{&m.MessageCount} }

// QueueDelete is queue.delete.
type QueueDelete struct {
	Reserved1 uint16
	Queue     string
	IfUnused  bool
	IfEmpty   bool
	NoWait    bool
}

func (*QueueDelete) ID() (class, method uint16) { return 50, 40 }
func (*QueueDelete) Name() string               { return "queue.delete" }
func (m *QueueDelete) fields() []any {
	return []any{&m.Reserved1, &m.Queue, &m.IfUnused, &m.IfEmpty, &m.NoWait}
}

// QueueDeleteOk is queue.delete-ok.
type QueueDeleteOk struct {
	MessageCount uint32
}

func (*QueueDeleteOk) ID() (class, method uint16) { return 50, 41 }
func (*QueueDeleteOk) Name() string               { return "queue.delete-ok" }
func (m *QueueDeleteOk) fields() []any            { return []any{&m.MessageCount} }

// QueueUnbind is queue.unbind.
type QueueUnbind struct {
	Reserved1  uint16
	Queue      string
	Exchange   string
	RoutingKey string
	Arguments  Table
}

func (*QueueUnbind) ID() (class, method uint16) { return 50, 50 }
func (*QueueUnbind) Name() string               { return "queue.unbind" }
func (m *QueueUnbind) fields() []any {
	return []any{&m.Reserved1, &m.Queue, &m.Exchange, &m.RoutingKey, &m.Arguments}
}

// QueueUnbindOk is queue.unbind-ok.
type QueueUnbindOk struct {
}

func (*QueueUnbindOk) ID() (class, method uint16) { return 50, 51 }
func (*QueueUnbindOk) Name() string               { return "queue.unbind-ok" }
func (*QueueUnbindOk) fields() []any              { return nil }

// BasicQos is basic.qos.
type BasicQos struct {
	PrefetchSize  uint32
	PrefetchCount uint16
	Global        bool
}

func (*BasicQos) ID() (class, method uint16) { return 60, 10 }
func (*BasicQos) Name() string               { return "basic.qos" }
func (m *BasicQos) fields() []any            { return []any{&m.PrefetchSize, &m.PrefetchCount, &m.Global} }

// BasicQosOk is basic.qos-ok.
type BasicQosOk struct {
}

func (*BasicQosOk) ID() (class, method uint16) { return 60, 11 }
func (*BasicQosOk) Name() string               { return "basic.qos-ok" }
func (*BasicQosOk) fields() []any              { return nil }

// BasicConsume is basic.consume.
type BasicConsume struct {
	Reserved1   uint16
	Queue       string
	ConsumerTag string
	NoLocal     bool
	NoAck       bool
	Exclusive   bool
	NoWait      bool
	Arguments   Table
}

func (*BasicConsume) ID() (class, method uint16) { return 60, 20 }
func (*BasicConsume) Name() string               { return "basic.consume" }
func (m *BasicConsume) fields() []any {
	return []any{&m.Reserved1, &m.Queue, &m.ConsumerTag, &m.NoLocal, &m.NoAck, &m.Exclusive, &m.NoWait, &m.Arguments}
}

// BasicConsumeOk is basic.consume-ok.
type BasicConsumeOk struct {
	ConsumerTag string
}

func (*BasicConsumeOk) ID() (class, method uint16) { return 60, 21 }
func (*BasicConsumeOk) Name() string               { return "basic.consume-ok" }
func (m *BasicConsumeOk) fields() []any            { return []any{&m.ConsumerTag} }

// BasicCancel is basic.cancel.
type BasicCancel struct {
	ConsumerTag string
	NoWait      bool
}

func (*BasicCancel) ID() (class, method uint16) { return 60, 30 }
func (*BasicCancel) Name() string               { return "basic.cancel" }
func (m *BasicCancel) fields() []any            { return []any{&m.ConsumerTag, &m.NoWait} }

// BasicCancelOk is basic.cancel-ok.
type BasicCancelOk struct {
	ConsumerTag string
}

func (*BasicCancelOk) ID() (class, method uint16) { return 60, 31 }
func (*BasicCancelOk) Name() string               { return "basic.cancel-ok" }
func (m *BasicCancelOk) fields() []any            { return []any{&m.ConsumerTag} }

// BasicPublish is basic.publish.
type BasicPublish struct {
	Reserved1  uint16
	Exchange   string
	RoutingKey string
	Mandatory  bool
	Immediate  bool
}

func (*BasicPublish) ID() (class, method uint16) { return 60, 40 }
func (*BasicPublish) Name() string               { return "basic.publish" }
func (m *BasicPublish) fields() []any {
	return []any{&m.Reserved1, &m.Exchange, &m.RoutingKey, &m.Mandatory, &m.Immediate}
}

// BasicReturn is basic.return.
type BasicReturn struct {
	ReplyCode  uint16
	ReplyText  string
	Exchange   string
	RoutingKey string
}

func (*BasicReturn) ID() (class, method uint16) { return 60, 50 }
func (*BasicReturn) Name() string               { return "basic.return" }
func (m *BasicReturn) fields() []any {
	return []any{&m.ReplyCode, &m.ReplyText, &m.Exchange, &m.RoutingKey}
}

// BasicDeliver is basic.deliver.
type BasicDeliver struct {
	ConsumerTag string
	DeliveryTag uint64
	Redelivered bool
	Exchange    string
	RoutingKey  string
}

func (*BasicDeliver) ID() (class, method uint16) { return 60, 60 }
func (*BasicDeliver) Name() string               { return "basic.deliver" }
func (m *BasicDeliver) fields() []any {
	return []any{&m.ConsumerTag, &m.DeliveryTag, &m.Redelivered, &m.Exchange, &m.RoutingKey}
}

// BasicGet is basic.get.
type BasicGet struct {
	Reserved1 uint16
	Queue     string
	NoAck     bool
}

func (*BasicGet) ID() (class, method uint16) { return 60, 70 }
func (*BasicGet) Name() string               { return "basic.get" }
func (m *BasicGet) fields() []any            { return []any{&m.Reserved1, &m.Queue, &m.NoAck} }

// BasicGetOk is basic.get-ok.
type BasicGetOk struct {
	DeliveryTag  uint64
	Redelivered  bool
	Exchange     string
	RoutingKey   string
	MessageCount uint32
}

func (*BasicGetOk) ID() (class, method uint16) { return 60, 71 }
func (*BasicGetOk) Name() string               { return "basic.get-ok" }
func (m *BasicGetOk) fields() []any {
	return []any{&m.DeliveryTag, &m.Redelivered, &m.Exchange, &m.RoutingKey, &m.MessageCount}
}

// BasicGetEmpty is basic.get-empty.
type BasicGetEmpty struct {
	Reserved1 string
}

func (*BasicGetEmpty) ID() (class, method uint16) { return 60, 72 }
func (*BasicGetEmpty) Name() string               { return "basic.get-empty" }
func (m *BasicGetEmpty) fields() []any            { return []any{&m.Reserved1} }

// BasicAck is basic.ack.
type BasicAck struct {
	DeliveryTag uint64
	Multiple    bool
}

func (*BasicAck) ID() (class, method uint16) { return 60, 80 }
func (*BasicAck) Name() string               { return "basic.ack" }
func (m *BasicAck) fields() []any            { return []any{&m.DeliveryTag, &m.Multiple} }

// BasicReject is basic.reject.
type BasicReject struct {
	DeliveryTag uint64
	Requeue     bool
}

func (*BasicReject) ID() (class, method uint16) { return 60, 90 }
func (*BasicReject) Name() string               { return "basic.reject" }
func (m *BasicReject) fields() []any            { return []any{&m.DeliveryTag, &m.Requeue} }

// BasicRecoverAsync is basic.recover-async.
type BasicRecoverAsync struct {
	Requeue bool
}

func (*BasicRecoverAsync) ID() (class, method uint16) { return 60, 100 }
func (*BasicRecoverAsync) Name() string               { return "basic.recover-async" }
func (m *BasicRecoverAsync) fields() []any            { return []any{&m.Requeue} }

// BasicRecover is basic.recover.
type BasicRecover struct {
	Requeue bool
}

func (*BasicRecover) ID() (class, method uint16) { return 60, 110 }
func (*BasicRecover) Name() string               { return "basic.recover" }
func (m *BasicRecover) fields() []any            { return []any{&m.Requeue} }

// BasicRecoverOk is basic.recover-ok.
type BasicRecoverOk struct {
}

func (*BasicRecoverOk) ID() (class, method uint16) { return 60, 111 }
func (*BasicRecoverOk) Name() string               { return "basic.recover-ok" }
func (*BasicRecoverOk) fields() []any              { return nil }

// BasicNack is basic.nack.
type BasicNack struct {
	DeliveryTag uint64
	Multiple    bool
	Requeue     bool
}

func (*BasicNack) ID() (class, method uint16) { return 60, 120 }
func (*BasicNack) Name() string               { return "basic.nack" }
func (m *BasicNack) fields() []any            { return []any{&m.DeliveryTag, &m.Multiple, &m.Requeue} }

// ConfirmSelect is confirm.select.
type ConfirmSelect struct {
	NoWait bool
}

func (*ConfirmSelect) ID() (class, method uint16) { return 85, 10 }
func (*ConfirmSelect) Name() string               { return "confirm.select" }
func (m *ConfirmSelect) fields() []any            { return []any{&m.NoWait} }

// ConfirmSelectOk is confirm.select-ok.
type ConfirmSelectOk struct {
}

func (*ConfirmSelectOk) ID() (class, method uint16) { return 85, 11 }
func (*ConfirmSelectOk) Name() string               { return "confirm.select-ok" }
func (*ConfirmSelectOk) fields() []any              { return nil }

// TxSelect is tx.select.
type TxSelect struct {
}

func (*TxSelect) ID() (class, method uint16) { return 90, 10 }
func (*TxSelect) Name() string               { return "tx.select" }
func (*TxSelect) fields() []any              { return nil }

// TxSelectOk is tx.select-ok.
type TxSelectOk struct {
}

func (*TxSelectOk) ID() (class, method uint16) { return 90, 11 }
func (*TxSelectOk) Name() string               { return "tx.select-ok" }
func (*TxSelectOk) fields() []any              { return nil }

// TxCommit is tx.commit.
type TxCommit struct {
}

func (*TxCommit) ID() (class, method uint16) { return 90, 20 }
func (*TxCommit) Name() string               { return "tx.commit" }
func (*TxCommit) fields() []any              { return nil }

// TxCommitOk is tx.commit-ok.
type TxCommitOk struct {
}

func (*TxCommitOk) ID() (class, method uint16) { return 90, 21 }
func (*TxCommitOk) Name() string               { return "tx.commit-ok" }
func (*TxCommitOk) fields() []any              { return nil }

// TxRollback is tx.rollback.
type TxRollback struct {
}

func (*TxRollback) ID() (class, method uint16) { return 90, 30 }
func (*TxRollback) Name() string               { return "tx.rollback" }
func (*TxRollback) fields() []any              { return nil }

// TxRollbackOk is tx.rollback-ok.
type TxRollbackOk struct {
}

func (*TxRollbackOk) ID() (class, method uint16) { return 90, 31 }
func (*TxRollbackOk) Name() string               { return "tx.rollback-ok" }
func (*TxRollbackOk) fields() []any              { return nil }

// newMethod returns an empty method of class and id, nil for one this package does not know.
func newMethod(class, method uint16) Method {
	switch uint32(class)<<16 | uint32(method) {
	case 10<<16 | 10:
		return &ConnectionStart{}
	case 10<<16 | 11:
		return &ConnectionStartOk{}
	case 10<<16 | 20:
		return &ConnectionSecure{}
	case 10<<16 | 21:
		return &ConnectionSecureOk{}
	case 10<<16 | 30:
		return &ConnectionTune{}
	case 10<<16 | 31:
		return &ConnectionTuneOk{}
	case 10<<16 | 40:
		return &ConnectionOpen{}
	case 10<<16 | 41:
		return &ConnectionOpenOk{}
	case 10<<16 | 50:
		return &ConnectionClose{}
	case 10<<16 | 51:
		return &ConnectionCloseOk{}
	case 10<<16 | 60:
		return &ConnectionBlocked{}
	case 10<<16 | 61:
		return &ConnectionUnblocked{}
	case 10<<16 | 70:
		return &ConnectionUpdateSecret{}
	case 10<<16 | 71:
		return &ConnectionUpdateSecretOk{}
	case 20<<16 | 10:
		return &ChannelOpen{}
	case 20<<16 | 11:
		return &ChannelOpenOk{}
	case 20<<16 | 20:
		return &ChannelFlow{}
	case 20<<16 | 21:
		return &ChannelFlowOk{}
	case 20<<16 | 40:
		return &ChannelClose{}
	case 20<<16 | 41:
		return &ChannelCloseOk{}
	case 40<<16 | 10:
		return &ExchangeDeclare{}
	case 40<<16 | 11:
		return &ExchangeDeclareOk{}
	case 40<<16 | 20:
		return &ExchangeDelete{}
	case 40<<16 | 21:
		return &ExchangeDeleteOk{}
	case 40<<16 | 30:
		return &ExchangeBind{}
	case 40<<16 | 31:
		return &ExchangeBindOk{}
	case 40<<16 | 40:
		return &ExchangeUnbind{}
	case 40<<16 | 51:
		return &ExchangeUnbindOk{}
	case 50<<16 | 10:
		return &QueueDeclare{}
	case 50<<16 | 11:
		return &QueueDeclareOk{}
	case 50<<16 | 20:
		return &QueueBind{}
	case 50<<16 | 21:
		return &QueueBindOk{}
	case 50<<16 | 30:
		return &QueuePurge{}
	case 50<<16 | 31:
		return &QueuePurgeOk{}
	case 50<<16 | 40:
		return &QueueDelete{}
	case 50<<16 | 41:
		return &QueueDeleteOk{}
	case 50<<16 | 50:
		return &QueueUnbind{}
	case 50<<16 | 51:
		return &QueueUnbindOk{}
	case 60<<16 | 10:
		return &BasicQos{}
	case 60<<16 | 11:
		return &BasicQosOk{}
	case 60<<16 | 20:
		return &BasicConsume{}
	case 60<<16 | 21:
		return &BasicConsumeOk{}
	case 60<<16 | 30:
		return &BasicCancel{}
	case 60<<16 | 31:
		return &BasicCancelOk{}
	case 60<<16 | 40:
		return &BasicPublish{}
	case 60<<16 | 50:
		return &BasicReturn{}
	case 60<<16 | 60:
		return &BasicDeliver{}
	case 60<<16 | 70:
		return &BasicGet{}
	case 60<<16 | 71:
		return &BasicGetOk{}
	case 60<<16 | 72:
		return &BasicGetEmpty{}
	case 60<<16 | 80:
		return &BasicAck{}
	case 60<<16 | 90:
		return &BasicReject{}
	case 60<<16 | 100:
		return &BasicRecoverAsync{}
	case 60<<16 | 110:
		return &BasicRecover{}
	case 60<<16 | 111:
		return &BasicRecoverOk{}
	case 60<<16 | 120:
		return &BasicNack{}
	case 85<<16 | 10:
		return &ConfirmSelect{}
	case 85<<16 | 11:
		return &ConfirmSelectOk{}
	case 90<<16 | 10:
		return &TxSelect{}
	case 90<<16 | 11:
		return &TxSelectOk{}
	case 90<<16 | 20:
		return &TxCommit{}
	case 90<<16 | 21:
		return &TxCommitOk{}
	case 90<<16 | 30:
		return &TxRollback{}
	case 90<<16 | 31:
		return &TxRollbackOk{}
	}
	return nil
}

// HasContent reports whether m is followed by a content header and body.
func HasContent(m Method) bool {
	switch m.(type) {
	case *BasicDeliver, *BasicGetOk, *BasicPublish, *BasicReturn:
		return true
	}
	return false
}
