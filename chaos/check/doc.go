// Package check verifies the history of a chaos run against Warren's
// queue contract, in the spirit of Jepsen's total-queue checker: every
// message the broker confirmed must be delivered, nothing may be delivered
// that was not published, and duplicates are counted and classified.
//
// A workload records its run with a Recorder (Published, Delivered, Acked,
// Ordered, Fault); History returns the recorded data, which is plain,
// JSON-serialisable and can be saved and checked again; Check turns it into
// a Report. The package does no I/O except Report.WriteTable's writer, and
// Check is deterministic: the same History always gives the same Report.
//
// # Identity and outcomes
//
// A message is identified by (queue, id): the same id may legitimately be
// routed to several queues (fanout, topic), and each queue is checked on its
// own, so a delivery from a queue the id was never published to is
// unexpected. A message may be published in several attempts (a workload
// retry); its outcome is the best one of its attempts, OK > Unknown >
// Failed, and its producer and seq are those of its first attempt (a retry
// keeps its seq).
//
// # Definitions (counts are of messages unless they say copies)
//
//   - Attempted: published at least once. Confirmed, Unknown, Failed: by best
//     outcome; they add up to Attempted.
//   - Delivered: delivered at least once (unexpected messages included).
//     Deliveries counts copies; ExtraDeliveries = Deliveries - Delivered.
//   - Lost: confirmed and never delivered. Any Lost fails the run.
//   - Unexpected: delivered, but never published to that queue or published
//     only with outcome Failed. Any Unexpected fails the run.
//   - Recovered: best outcome Unknown, yet delivered (the publish did happen).
//     An Unknown message that is never delivered is not lost: its publish may
//     never have taken effect.
//   - Duplicated: delivered more than once. The first copy (in recording
//     order) is the delivery; the others are extra copies. A duplicated
//     message is DuplicatedRedelivered when every extra copy carries the
//     broker's redelivered flag (expected: a consumer stream or session was
//     lost before its ack committed, the message returned to the queue),
//     and DuplicatedAnomalies otherwise: an extra copy without the flag means
//     the message was enqueued twice. DuplicatedSinglePublish counts the
//     anomalies whose message had a single publish attempt, which no workload
//     retry explains.
//   - DuplicatesDuringFaults: extra copies (not messages) delivered at a time
//     inside a fault window [start, end + slack). The slack is
//     History.FaultSlack, DefaultFaultSlack (30 s) when zero: the time a
//     client needs to notice a dead connection by keepalive (10 s + 5 s),
//     reconnect (backoff capped at 2 s) and be re-sent the returned
//     deliveries after an election, with margin. A fault that never healed
//     lasts to the end; one recorded with end before start is an instant.
//   - DuplicateRate: ExtraDeliveries / Delivered.
//   - Acks: AcksOK, AcksUnknown and AcksFailed count ack events; Unacked
//     counts delivered messages without an OK ack; RedeliveredAfterAck counts
//     copies delivered after an OK ack of the same message. These are
//     informational: a stream ack is accepted before the Settle carrying it
//     is replicated, so a fault may still return an acked message.
//
// # Order
//
// Recorder.Ordered declares a queue with one producer publishing
// sequentially (seq increasing in invocation order) and one consumer with
// prefetch 1. For such a queue, only first deliveries are considered — the
// first copy of each message, when it is not flagged redelivered — in
// delivery (recording) order. A violation is a first delivery of a
// confirmed message whose seq is lower than the highest seq already
// first-delivered from the same producer.
//
// Two kinds of delivery legitimately go out of order and are excluded:
//
//   - a returned message (nacked with requeue, or its consumer's stream or
//     session lost) is redelivered with the flag, possibly after messages
//     published later (Warren serves returns first, but a return that commits
//     after later messages were delivered still comes later), so flagged
//     copies are ignored. A message whose first delivery the client never
//     saw (lost in flight) first arrives flagged and is ignored too.
//   - a message whose publish outcome is Unknown may have taken effect after
//     the producer moved on to later messages, so it is never a violation.
//     It still raises the high-water mark: it was invoked after every lower
//     seq completed, so a confirmed lower seq must have been enqueued before
//     it.
//
// # Verdicts
//
// Report.OK is Lost == 0 && Unexpected == 0, the at-least-once contract.
// Duplicate anomalies and order violations are reported but do not fail OK:
// a workload that retries a publish after an unknown outcome makes a new
// publish that the server cannot tell from the first, so an unflagged
// duplicate is legitimate there; and the order check depends on the
// workload keeping its promise. Report.Strict also fails on unflagged
// duplicates of single-attempt publishes (broken publish deduplication or a
// copy sent twice without the flag) and on order violations; a runner that
// controls its workload should gate on Strict.
package check
