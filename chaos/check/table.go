package check

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report for people: the verdict, the totals, one
// row per queue (sorted by name) and the example ids. The output is
// deterministic.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }

	p("verdict:\t%s\n", r.verdict())
	p("attempted:\t%d (confirmed %d, unknown %d, failed %d)\n", r.Attempted, r.Confirmed, r.Unknown, r.Failed)
	p("delivered:\t%d (%d deliveries, %d extra copies, duplicate rate %.4f)\n", r.Delivered, r.Deliveries, r.ExtraDeliveries, r.DuplicateRate)
	p("lost:\t%d (confirmed, never delivered)\n", r.Lost)
	p("unexpected:\t%d (delivered, never published or only failed)\n", r.Unexpected)
	p("recovered:\t%d (unknown outcome, delivered)\n", r.Recovered)
	p("duplicated:\t%d (all copies flagged redelivered %d; anomalies %d, of single publishes %d)\n", r.Duplicated, r.DuplicatedRedelivered, r.DuplicatedAnomalies, r.DuplicatedSinglePublish)
	p("faults:\t%d (%d extra copies within a window + %v slack)\n", r.Faults, r.DuplicatesDuringFaults, r.FaultSlack)
	p("acks ok:\t%d (unknown %d, failed %d; messages never acked ok %d; copies after an ok ack %d)\n", r.AcksOK, r.AcksUnknown, r.AcksFailed, r.Unacked, r.RedeliveredAfterAck)
	for _, q := range sortedKeys(r.OrderViolations) {
		p("order %s:\t%d violations\n", q, r.OrderViolations[q])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	p("queue\tattempted\tconfirmed\tunknown\tfailed\tdelivered\tlost\tunexpected\trecovered\tdup\tdup-redeliv\tdup-anomaly\tdup-in-fault\tdup-rate\torder\t\n")
	for _, name := range sortedKeys(r.Queues) {
		q := r.Queues[name]
		order := "-"
		if q.Ordered {
			order = fmt.Sprint(q.OrderViolations)
		}
		p("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.4f\t%s\t\n", name,
			q.Attempted, q.Confirmed, q.Unknown, q.Failed, q.Delivered, q.Lost, q.Unexpected,
			q.Recovered, q.Duplicated, q.DuplicatedRedelivered, q.DuplicatedAnomalies,
			q.DuplicatesDuringFaults, q.DuplicateRate, order)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, ex := range []struct {
		what string
		ids  []string
	}{{"lost", r.LostIDs}, {"unexpected", r.UnexpectedIDs}, {"duplicate anomalies", r.AnomalyIDs}, {"out of order", r.OrderIDs}} {
		if len(ex.ids) == 0 {
			continue
		}
		if _, err := fmt.Fprintf(w, "%s (examples): %s\n", ex.what, strings.Join(ex.ids, " ")); err != nil {
			return err
		}
	}
	return nil
}

// verdict summarises OK and Strict in words.
func (r Report) verdict() string {
	switch {
	case !r.OK():
		return "FAIL (lost or unexpected messages)"
	case !r.Strict():
		return "OK, with anomalies (unflagged duplicates of single publishes or order violations)"
	}
	return "OK"
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
