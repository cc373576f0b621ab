package serve

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
)

// watchedConns dials the fal client's connections and records, for each,
// which end closed it: the client, or the server, whose close the client
// reads as the end of the connection before closing its own end.
type watchedConns struct {
	mu    sync.Mutex
	conns []*watchedConn
}

type watchedConn struct {
	net.Conn
	mu sync.Mutex
	// peerClosed: a read failed before the client closed the connection.
	peerClosed, closed, closedByClient bool
}

func (w *watchedConns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &watchedConn{Conn: conn}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conns = append(w.conns, c)
	return c, nil
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.mu.Lock()
		if !c.closed {
			c.peerClosed = true
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *watchedConn) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed, c.closedByClient = true, !c.peerClosed
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// states returns, per connection, whether it is closed and whether the
// client closed it first.
func (w *watchedConns) states() (dialled, closed, byClient int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.conns {
		c.mu.Lock()
		dialled++
		if c.closed {
			closed++
		}
		if c.closedByClient {
			byClient++
		}
		c.mu.Unlock()
	}
	return dialled, closed, byClient
}

// A shutdown closes the connections the fal client keeps to the in-process
// simulator before the simulator stops: its http.Server.Shutdown waited up
// to 5 s on one the client had dialled and never used, which it counts as
// busy. Here the simulator's server finds every connection closed by the
// client; without the client's close, it closes them itself.
func TestShutdownClosesFalConnectionsBeforeSimulator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conns := &watchedConns{}
	transport := &http.Transport{DialContext: conns.dial}
	s := &server{
		cfg:           Config{PublicURL: "http://127.0.0.1:1", Simulator: &falsim.Config{}},
		logger:        slog.New(slog.DiscardHandler),
		falHTTPClient: &http.Client{Transport: transport},
	}
	s.chooseFal()
	require.NoError(t, s.startSimulator(ctx))
	s.buildFalClient()

	_, err := s.falClient.Submit(ctx, fal.SubmitRequest{EndpointID: fal.EndpointImagePrompt,
		Input: json.RawMessage(`{"image_prompt_1": {"image_url": "https://example.com/a.png"}}`)})
	require.NoError(t, err)
	dialled, closed, _ := conns.states()
	require.Equal(t, 1, dialled)
	require.Zero(t, closed, "kept for the next call")

	s.cleanUp()

	require.Eventually(t, func() bool {
		_, closed, _ := conns.states()
		return closed == 1
	}, 10*time.Second, time.Millisecond)
	_, _, byClient := conns.states()
	require.Equal(t, 1, byClient, "closed by the client before the simulator stopped")
}
