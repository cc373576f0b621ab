package falsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a Sim listening on a real address.
type Server struct {
	Sim *Sim
	// URL is the base URL of the server, e.g. http://127.0.0.1:9090: the
	// queue URL to give Easel.
	URL string

	httpServer *http.Server
	served     chan struct{}
	closeOnce  sync.Once
}

// Start serves a new Sim on addr ("127.0.0.1:0" picks a free port) until
// Close is called or ctx is done.
func Start(ctx context.Context, addr string, cfg Config) (*Server, error) {
	sim, err := New(cfg)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		sim.Close()
		return nil, fmt.Errorf("falsim listen on %s: %w", addr, err)
	}
	srv := &Server{
		Sim: sim,
		URL: "http://" + advertisedAddr(ln.Addr().(*net.TCPAddr)),
		httpServer: &http.Server{
			Handler:           sim.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
		},
		served: make(chan struct{}),
	}
	go func() {
		defer close(srv.served)
		if err := srv.httpServer.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			sim.logger.Error("falsim server stopped", "addr", srv.URL, "error", err)
		}
	}()
	context.AfterFunc(ctx, srv.Close)
	return srv, nil
}

// advertisedAddr replaces an unspecified listen IP (0.0.0.0, ::) with
// loopback, which a client on the same host can dial.
func advertisedAddr(a *net.TCPAddr) string {
	if a.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(a.Port))
	}
	return a.String()
}

// QueueURL is the value for FAL_QUEUE_URL.
func (srv *Server) QueueURL() string { return srv.URL }

// JWKSURL is the value for FAL_JWKS_URL.
func (srv *Server) JWKSURL() string { return srv.URL + "/.well-known/jwks.json" }

// Close stops the simulator, then the HTTP server, waiting briefly for
// in-flight requests. It is safe to call more than once.
func (srv *Server) Close() {
	srv.closeOnce.Do(func() {
		// Closing the Sim first ends status streams, so Shutdown need not wait on them.
		srv.Sim.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.httpServer.Shutdown(ctx); err != nil {
			_ = srv.httpServer.Close()
		}
		<-srv.served
	})
}

// Run is `easel sim`: it serves a Sim on addr, prints what to point Easel at
// and the configured faults to out, and blocks until ctx is done.
func Run(ctx context.Context, addr string, cfg Config, out io.Writer) error {
	srv, err := Start(ctx, addr, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	_, err = fmt.Fprintf(out, "fal simulator listening on %s\n"+
		"point Easel at it with:\n"+
		"  FAL_QUEUE_URL=%s\n"+
		"  FAL_JWKS_URL=%s\n"+
		"  FAL_KEY=sim (any non-empty value)\n"+
		"faults: %s\n",
		srv.URL, srv.QueueURL(), srv.JWKSURL(), cfg.Summary())
	if err != nil {
		return fmt.Errorf("print falsim banner: %w", err)
	}
	<-ctx.Done()
	return nil
}
