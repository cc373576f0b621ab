package fal_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
)

// connStates tracks the state of every connection a server accepted.
type connStates struct {
	mu     sync.Mutex
	states map[net.Conn]http.ConnState
}

func (c *connStates) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.states[conn] = state
}

// count returns how many connections are in state.
func (c *connStates) count(state http.ConnState) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.states {
		if s == state {
			n++
		}
	}
	return n
}

// open returns how many connections are not closed.
func (c *connStates) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.states {
		if s != http.StateClosed && s != http.StateHijacked {
			n++
		}
	}
	return n
}

// CloseIdleConnections closes the connections the client keeps for its
// next calls, among them one it dialled for a call that another connection
// served, which never sent a request: http.Server.Shutdown counts such a
// connection (StateNew) as busy for 5 s, so that a simulator closed while
// the client still holds one took that long to stop.
func TestClientCloseIdleConnections(t *testing.T) {
	t.Parallel()

	// The first status call is held until release, so that the second
	// dials a connection of its own; that dial is held until the first
	// call's connection has served the second call too.
	release, dialing, dialGate := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var first sync.Once
	states := &connStates{states: map[net.Conn]http.ConnState{}}
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held := false
		first.Do(func() { held = true })
		if held {
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status": "IN_QUEUE", "queue_position": 0}`))
	}))
	server.Config.ConnState = states.track
	server.Start()
	t.Cleanup(server.Close)

	var dials int
	var dialMu sync.Mutex
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialMu.Lock()
		dials++
		n := dials
		dialMu.Unlock()
		if n == 2 {
			close(dialing)
			<-dialGate
			// The call it was dialled for is served by now: the
			// transport keeps the connection as idle.
			ctx = context.WithoutCancel(ctx)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(transport.CloseIdleConnections)
	client := fal.NewClient(fal.ClientConfig{QueueURL: server.URL, Key: "k", HTTPClient: &http.Client{Transport: transport}})
	statusURL := server.URL + "/fal-ai/fooocus/requests/r1/status"

	ctx := context.Background()
	done := make(chan error, 2)
	go func() { _, err := client.Status(ctx, statusURL); done <- err }()
	require.Eventually(t, func() bool { return states.count(http.StateActive) == 1 }, 10*time.Second, time.Millisecond)
	go func() { _, err := client.Status(ctx, statusURL); done <- err }()
	<-dialing
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	close(dialGate)
	require.Eventually(t, func() bool { return states.count(http.StateNew) == 1 }, 10*time.Second, time.Millisecond,
		"a connection dialled, kept, never used")
	require.Equal(t, 2, states.open())

	client.CloseIdleConnections()
	require.Eventually(t, func() bool { return states.open() == 0 }, 10*time.Second, time.Millisecond,
		"every connection the client kept is closed")
}
