package client

// Batched reports whether the subscription's node agreed on batches
// (Subscribed.batch): its settles are queued and sent together.
func Batched(s *Subscription) bool { return s.batch }
