package api

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/notify"
)

// Handler serves /v1.
type Handler struct {
	pool         *pgxpool.Pool
	logger       *slog.Logger
	canceller    Canceller          // see WithCanceller
	callbackURLs CallbackURLChecker // see WithCallbackURLs
	wait         waiter             // see WithListener
	maxPending   int                // see WithMaxPending
	pending      *jobs.PendingCache // see WithMaxPending
	refusals     *refusalLog        // see WithMaxPending
}

// NewHandler returns a Handler.
func NewHandler(pool *pgxpool.Pool, logger *slog.Logger) *Handler {
	return &Handler{pool: pool, logger: logger}
}

// WithCanceller enables POST /v1/generations/{id}/cancel, which answers 503
// without one.
func (h *Handler) WithCanceller(c Canceller) *Handler {
	h.canceller = c
	return h
}

// WithCallbackURLs makes the handler refuse callback URLs that c refuses,
// beyond their syntax, which callbacks.CheckURLSyntax always checks, for
// Go callers too. What c decides (easel serve's refuses every URL without a
// callback secret, and private addresses unless allowed) depends on this
// process's configuration, so only the HTTP API applies it at enqueue.
func (h *Handler) WithCallbackURLs(c CallbackURLChecker) *Handler {
	h.callbackURLs = c
	return h
}

// WithListener enables ?wait on GET /v1/generations/{id}: l must listen on
// store.GenerationFinishedChannel, and run (Listener.Run) while h serves;
// once it stops, waiting requests are answered at once. The process's one
// serves every waiting request. Without one, ?wait answers at once.
func (h *Handler) WithListener(l *notify.Listener) *Handler {
	h.wait.listener = l
	return h
}

// WithMaxPending caps each client's unfinished (queued or submitted)
// generations at n (EASEL_CLIENT_MAX_PENDING): an enqueue beyond it is a
// 429 too_many_pending, except for an idempotent replay. Zero, the default,
// means no cap. See jobs.ErrTooManyPending.
//
// The count of a client's unfinished generations reads up to n rows, so
// the handler reuses one for up to a second while it shows room (see
// jobs.PendingCache) instead of counting in every enqueue.
//
// Refusals are logged as a WARN naming the client, at most once a minute
// per client, with the count since the last line: a flooding client is otherwise seen only in
// the metrics, as easel_api_errors_total{code="too_many_pending"}.
func (h *Handler) WithMaxPending(n int) *Handler {
	h.maxPending = n
	h.pending = &jobs.PendingCache{}
	h.refusals = newRefusalLog()
	return h
}
