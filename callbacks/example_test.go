package callbacks_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/easelhq/easel/callbacks"
)

// A receiver verifies each callback with its own client's secret (what
// easel keys callback-secret NAME prints) and deduplicates on webhook-id:
// a retry, or a replay within callbacks.Tolerance, verifies too.
func ExampleSigner_Verify() {
	// On Easel's side: EASEL_CALLBACK_SECRET, and the secret it derives
	// for the client "billing".
	secrets, err := callbacks.ParseSecrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}

	// On the receiver's side: only billing's secret.
	signer, err := callbacks.NewSigner(secrets.ClientSecret("billing"))
	if err != nil {
		panic(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]bool{} // in production, a unique key in the receiver's database
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := signer.Verify(r.Header, body, time.Now()); err != nil {
			fmt.Println("rejected:", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get(callbacks.HeaderID)
		if seen[id] {
			fmt.Println("duplicate of", id, "answered, not processed again")
		} else {
			seen[id] = true
			fmt.Println("processed", id)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	d := callbacks.NewDeliverer(secrets, &callbacks.Policy{AllowPrivate: true}) // the receiver is on loopback
	ctx := context.Background()
	body := []byte(`{"id":"0195","status":"completed"}`)
	d.Deliver(ctx, callbacks.Delivery{ID: "delivery-1", Client: "billing", URL: receiver.URL, Body: body})
	d.Deliver(ctx, callbacks.Delivery{ID: "delivery-1", Client: "billing", URL: receiver.URL, Body: body}) // a retry
	// A generation another client enqueued with billing's URL.
	d.Deliver(ctx, callbacks.Delivery{ID: "delivery-2", Client: "marketing", URL: receiver.URL, Body: body})
	// Output:
	// processed delivery-1
	// duplicate of delivery-1 answered, not processed again
	// rejected: callback signature did not verify: no v1 signature matches
}
