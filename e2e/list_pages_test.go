package e2e_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestListingsArePaged: listings come in pages of page_size items and at
// most 4 MiB, so no listing can outgrow a gRPC message whatever the state
// holds; following next_page_token lists every item once, in order; the
// SDK follows the pages itself.
func TestListingsArePaged(t *testing.T) {
	n := startNode(t)
	raw := n.Dial(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("page-q%02d", i)
		declareQueue(t, c, name, nil)
		want = append(want, name)
	}
	var got []string
	token, pages := "", 0
	for {
		resp, err := raw.ListQueues(ctx, &pb.ListQueuesRequest{PageSize: 10, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetQueues()) > 10 {
			t.Fatalf("page of %d queues with page_size 10", len(resp.GetQueues()))
		}
		for _, q := range resp.GetQueues() {
			got = append(got, q.GetName())
		}
		pages++
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("%d pages listed %v, want 3 pages of %v", pages, got, want)
	}
	if _, err := raw.ListQueues(ctx, &pb.ListQueuesRequest{PageToken: "not a token!"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a made-up page token: %v", err)
	}

	// 80 bindings with a 60 KiB argument each: 4.8 MiB, more than a page.
	big := strings.Repeat("v", 60<<10)
	for i := range 80 {
		if err := c.Bind(ctx, "amq.headers", "page-q00", "", map[string]any{"x-match": "any", fmt.Sprintf("h%02d", i): big}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := raw.ListBindings(ctx, &pb.ListBindingsRequest{Exchange: "amq.headers"})
	if err != nil {
		t.Fatal(err)
	}
	if size := proto.Size(first); size > 4<<20 || first.GetNextPageToken() == "" || len(first.GetBindings()) >= 80 {
		t.Fatalf("first page: %d bindings, %d bytes, next %q; want under the 3 MiB page budget with more to come",
			len(first.GetBindings()), size, first.GetNextPageToken())
	}
	all, err := c.ListBindings(ctx, client.BindingFilter{Exchange: "amq.headers"})
	if err != nil || len(all) != 80 {
		t.Fatalf("the SDK listed %d bindings (%v), want all 80", len(all), err)
	}
}
