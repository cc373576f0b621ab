package jobs_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// ackLosingProxy forwards Postgres connections. Once armed, it lets the next
// Execute through to Postgres, swallows Postgres's answer up to its
// CommandComplete and ReadyForQuery, so that the statement has committed,
// and then closes the connection: a connection broken, or a Postgres
// restart, after the commit and before its answer reached Easel.
type ackLosingProxy struct {
	ln       net.Listener
	upstream string
	armed    atomic.Bool
	// dropped is closed once an answer was swallowed.
	dropped     chan struct{}
	droppedOnce sync.Once
}

func startAckLosingProxy(t *testing.T, upstream string) *ackLosingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &ackLosingProxy{ln: ln, upstream: upstream, dropped: make(chan struct{})}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(client)
		}
	}()
	return p
}

func (p *ackLosingProxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		_ = client.Close()
		return
	}
	closeBoth := sync.OnceFunc(func() { _ = client.Close(); _ = server.Close() })
	var doomed atomic.Bool
	go func() {
		defer closeBoth()
		r := bufio.NewReader(client)
		// The startup (or cancel) message has no type byte.
		if _, msg, err := readPGMessage(r, false); err != nil {
			return
		} else if _, err := server.Write(msg); err != nil {
			return
		}
		for {
			typ, msg, err := readPGMessage(r, true)
			if err != nil {
				return
			}
			if typ == 'E' && p.armed.CompareAndSwap(true, false) {
				doomed.Store(true)
			}
			if _, err := server.Write(msg); err != nil {
				return
			}
		}
	}()
	go func() {
		defer closeBoth()
		r := bufio.NewReader(server)
		completed := false
		for {
			typ, msg, err := readPGMessage(r, true)
			if err != nil {
				return
			}
			if !doomed.Load() {
				if _, err := client.Write(msg); err != nil {
					return
				}
				continue
			}
			switch typ {
			case 'C':
				completed = true
			case 'Z':
				if completed {
					p.droppedOnce.Do(func() { close(p.dropped) })
					return
				}
			}
		}
	}()
}

// readPGMessage reads one protocol message, whole, with its type byte when
// typed is set.
func readPGMessage(r *bufio.Reader, typed bool) (byte, []byte, error) {
	var head []byte
	var typ byte
	if typed {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		typ = b
		head = append(head, b)
	}
	var length [4]byte
	if _, err := io.ReadFull(r, length[:]); err != nil {
		return 0, nil, err
	}
	head = append(head, length[:]...)
	n := int(binary.BigEndian.Uint32(length[:])) - 4
	if n < 0 {
		return 0, nil, fmt.Errorf("bad message length %d", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return typ, append(head, body...), nil
}

// armingFal arms the proxy once fal accepted a submit, so that the next
// statement the worker sends, RecordSubmitted, commits but its answer is
// lost.
type armingFal struct {
	jobs.Fal
	proxy *ackLosingProxy
}

func (f armingFal) Submit(ctx context.Context, req fal.SubmitRequest) (*fal.QueueResponse, error) {
	resp, err := f.Fal.Submit(ctx, req)
	if err == nil {
		f.proxy.armed.Store(true)
	}
	return resp, err
}

// recordSubmitted retries store.RecordSubmitted whenever the database errs,
// and a connection that breaks after the COMMIT (a Postgres restart, which
// the chaos run does, or a network cut) loses only its answer: the retry must
// not confirm the same submission again. Else fal_submissions_confirmed
// reaches 2, and a paid request whose answer was lost no longer shows as
// fal_submissions > fal_submissions_confirmed: here fal accepted two
// submissions, and exactly one is confirmed.
func TestRecordRetriedAfterLostCommitConfirmsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	b.cfg.PollAfter = time.Nanosecond // no webhook will come: submit again at once
	gen := b.enqueue(t, "tests")

	// First submission: fal accepts it, its answer is lost.
	lost := b.cfg
	lost.Fal = b.falLosingAnswers()
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))

	// Second submission, by a worker whose database connection breaks after
	// RecordSubmitted committed.
	dbURL, err := url.Parse(b.url)
	require.NoError(t, err)
	proxy := startAckLosingProxy(t, dbURL.Host)
	dbURL.Host = proxy.ln.Addr().String()
	proxied, err := pgxpool.New(b.ctx, dbURL.String())
	require.NoError(t, err)
	t.Cleanup(proxied.Close)
	cfg := b.cfg
	cfg.Fal = armingFal{Fal: b.fal, proxy: proxy}
	require.NoError(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(proxied, cfg), gen.ID))
	select {
	case <-proxy.dropped:
	default:
		t.Fatal("the proxy lost no answer")
	}

	stats := b.sim.Sim.Stats()
	require.Equal(t, 2, stats.Submissions, "fal accepted, and may bill, two submissions")
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusSubmitted, got.Status)
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{2, 1}, [2]int{submissions, confirmed})
	require.Equal(t, stats.Submissions-1, submissions-confirmed, "every paid request beyond the first is an unconfirmed one")
}
