package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// EnqueueOpts are the optional settings of a generation.
type EnqueueOpts struct {
	// Priority from 1 (highest) to 4 (lowest), as in River; 0 means 2.
	Priority int
	// Metadata is any JSON object of at most MaxMetadataBytes as stored,
	// kept with the generation in a jsonb column and returned from it: the
	// same value, not the same text, since jsonb orders keys its own way,
	// drops whitespace and writes numbers as numeric does (1e3 as 1000).
	// Postgres's jsonb refuses \u0000 and unpaired UTF-16 surrogate escapes
	// (\ud800), and keeps only the last of repeated keys, so Enqueue refuses
	// all three, and numbers beyond a 64-bit float's range. Empty or null
	// is no metadata.
	Metadata json.RawMessage
	// CallbackURL receives the generation when it finishes: an absolute
	// http or https URL without user info or fragment (see
	// callbacks.CheckURLSyntax). Which addresses it may reach is decided by
	// the processes that deliver callbacks, on every connection; unlike
	// the HTTP API, Enqueue cannot refuse a private address up front, nor
	// a URL while the workers have no EASEL_CALLBACK_SECRET (its
	// deliveries are then retried until they have one, for up to a day).
	CallbackURL string
	// IdempotencyKey makes retried enqueues safe: the same key with the same
	// request returns the first generation; with a different request,
	// ErrIdempotencyConflict. At most MaxIdempotencyKeyLen printable ASCII
	// characters, as in the HTTP header.
	IdempotencyKey string
	// RunAt schedules the submission to fal; zero or a time in the past
	// means now, and at most MaxRunAtAhead from now is accepted.
	RunAt time.Time
	// MaxPending, when positive, caps the client's unfinished (queued or
	// submitted) generations: at the cap Enqueue inserts nothing and
	// returns ErrTooManyPending, except for an idempotent replay, which is
	// answered as always. Zero means no cap. The HTTP API sets it from
	// EASEL_CLIENT_MAX_PENDING; a Go service enqueueing in its own
	// transactions is trusted code and opts in by setting it. See
	// ErrTooManyPending for how far concurrent enqueues can overshoot it.
	MaxPending int
	// PendingCache, when set, lets the MaxPending check skip counting the
	// client's unfinished generations while an earlier count shows room;
	// nil counts in every Enqueue. See PendingCache.
	PendingCache *PendingCache
	// Schema is the schema Easel was migrated into (search_path=easel in
	// easel serve's DATABASE_URL: "easel"), for a caller whose pool keeps
	// its own search_path, so that the application's own tables and its own
	// River are never touched. Enqueue checks Easel's tables are there
	// (ErrNoEaselSchema, without failing a statement), runs its statements
	// with the transaction's search_path set to that schema, and puts the
	// caller's back before it returns: two round trips more. Empty uses the
	// caller's search_path, which must then lead to Easel's tables. River
	// takes only names of at most 46 ASCII letters, digits and
	// underscores, not starting with a digit.
	Schema string
}

// Enqueued is the result of Enqueue.
type Enqueued struct {
	Generation *store.Generation
	// Replayed is true when an earlier request with the same idempotency key
	// created Generation; nothing new was inserted.
	Replayed bool
}

// ErrIdempotencyConflict is returned when an idempotency key is reused with a
// different request.
var ErrIdempotencyConflict = errors.New("idempotency key was already used with a different request")

// Enqueue validates input (a fal-ai/fooocus/image-prompt input: a JSON
// document, json.RawMessage, anything that marshals to one, or an *Input
// from ParseInput, which is not validated again) and, inside the caller's
// transaction, inserts a queued generation for client and the River job
// that will submit it. Nothing is visible to Easel until tx commits; a
// rollback leaves nothing behind. client is a name of at most
// MaxClientBytes. Invalid input, client or options (see
// EnqueueOpts.Validate) return an error wrapping one *fal.ValidationError
// (see errors.As) that names every invalid field at once: client, then the
// input's fields by their JSON paths, as the HTTP API names them (a string
// holding U+0000, which Postgres cannot store, included: prompt,
// loras[0].path), then the options by their Go names. Nothing is written,
// before any statement, so the caller's transaction is intact. Input is
// invalid beyond MaxInputBytes of JSON. An input that json.Marshal cannot
// encode is an error of its own. To build the input in Go, start from
// fal.NewImagePromptInput, which holds fal's defaults.
// When Easel lives in a schema of its own and tx's search_path does not
// lead there (an application's pool), set EnqueueOpts.Schema.
func Enqueue(ctx context.Context, tx pgx.Tx, client string, input any, opts *EnqueueOpts) (*Enqueued, error) {
	e, err := newEnqueue(client, input, opts)
	if err != nil {
		return nil, err
	}
	return e.write(ctx, tx, func() pgx.Tx { return tx })
}

// enqueue is an Enqueue whose arguments are valid, ready to write.
type enqueue struct {
	client string
	opts   *EnqueueOpts
	params store.InsertGenerationParams
	// inserter is the River client that inserts the job.
	inserter func() (*river.Client[pgx.Tx], error)
	// ownTx is set when the transaction is the enqueue's own, committed
	// right after: its search_path need not be put back.
	ownTx bool
}

// newEnqueue validates an Enqueue's arguments without touching the
// database.
func newEnqueue(client string, input any, opts *EnqueueOpts) (*enqueue, error) {
	if opts == nil {
		opts = &EnqueueOpts{}
	}
	parsed, inputInvalid, err := checkInput(input)
	if err != nil {
		return nil, err
	}
	valid, optsInvalid := validateOpts(opts, time.Now())
	// Everything at once, in the order of the arguments, as the HTTP API
	// answers the input's fields and its own together.
	clientInvalid := checkClient(client)
	if len(clientInvalid) == 0 && len(optsInvalid) == 0 && len(inputInvalid) > 0 {
		// The input alone: a plain *fal.ValidationError, "invalid input".
		return nil, &fal.ValidationError{Fields: inputInvalid}
	}
	if invalid := slices.Concat(clientInvalid, inputInvalid, optsInvalid); len(invalid) > 0 {
		return nil, &argumentError{what: "arguments", invalid: &fal.ValidationError{Fields: invalid}}
	}

	params := store.InsertGenerationParams{
		ID:             uuid.Must(uuid.NewV7()),
		Client:         client,
		EndpointID:     fal.EndpointImagePrompt,
		Input:          parsed.encoded,
		Priority:       valid.priority,
		Metadata:       valid.metadata,
		CallbackURL:    opts.CallbackURL,
		IdempotencyKey: opts.IdempotencyKey,
		RunAt:          opts.RunAt,
	}
	if parsed.seed != nil {
		params.Seed = strconv.FormatUint(*parsed.seed, 10)
	}
	if opts.IdempotencyKey != "" {
		params.RequestHash = requestHash(parsed.encoded, valid, opts)
	}
	e := &enqueue{client: client, opts: opts, params: params, inserter: insertOnlyClient}
	if schema := opts.Schema; schema != "" {
		e.inserter = func() (*river.Client[pgx.Tx], error) { return schemaInsertClient(schema) }
	}
	return e, nil
}

// write inserts the generation and its job with db, which is tx() or runs
// in it; tx() is called only once db has run a statement.
func (e *enqueue) write(ctx context.Context, db store.DBTX, tx func() pgx.Tx) (enqueued *Enqueued, err error) {
	// Registered first, so that it runs last and sees an error from
	// putting the search_path back, which leaves nothing to commit.
	var admitted pendingAdmission
	defer func() {
		if err != nil || enqueued.Replayed {
			// Nothing was inserted: the room is the client's again.
			e.opts.PendingCache.release(admitted)
		}
	}()
	if e.opts.Schema != "" {
		var previous string
		if previous, err = enterSchema(ctx, db, e.opts.Schema); err != nil {
			return nil, err
		}
		if !e.ownTx {
			defer func() {
				if leaveErr := leaveSchema(ctx, tx(), previous); leaveErr != nil {
					enqueued, err = nil, errors.Join(err, leaveErr)
				}
			}()
		}
	}
	if e.opts.MaxPending > 0 {
		if enqueued, admitted, err = checkPending(ctx, db, e.client, e.params.RequestHash, e.opts); enqueued != nil || err != nil {
			return enqueued, err
		}
	}

	gen, err := store.InsertGeneration(ctx, db, e.params)
	if errors.Is(err, store.ErrIdempotencyKeyTaken) {
		return replay(ctx, db, e.client, e.opts.IdempotencyKey, e.params.RequestHash)
	}
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}

	inserter, err := e.inserter()
	if err != nil {
		return nil, err
	}
	insertOpts := &river.InsertOpts{Priority: e.params.Priority}
	if e.opts.RunAt.After(time.Now()) {
		// A job scheduled in the past would still wait for River's
		// scheduler, up to 5 s, to become available: a past run_at means
		// now.
		insertOpts.ScheduledAt = e.opts.RunAt
	}
	if _, err := inserter.InsertTx(ctx, tx(), SubmitGenerationArgs{GenerationID: gen.ID}, insertOpts); err != nil {
		return nil, fmt.Errorf("enqueue generation %s: insert job: %w", gen.ID, err)
	}
	return &Enqueued{Generation: gen}, nil
}

func replay(ctx context.Context, db store.DBTX, client, key string, hash []byte) (*Enqueued, error) {
	gen, err := store.GetGenerationByIdempotencyKey(ctx, db, client, key)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	if string(gen.RequestHash) != string(hash) {
		return nil, fmt.Errorf("enqueue: generation %s: %w", gen.ID, ErrIdempotencyConflict)
	}
	return &Enqueued{Generation: gen, Replayed: true}, nil
}

// requestHash identifies a request for idempotency: everything the caller
// chose, after defaults, so that spelling a default out explicitly is still
// the same request, and metadata in its canonical form (see
// canonicalMetadata), so that it is the same request exactly when the same
// metadata would be stored.
func requestHash(input []byte, valid validOpts, opts *EnqueueOpts) []byte {
	h := sha256.New()
	canonical, _ := json.Marshal(struct {
		Input       json.RawMessage `json:"input"`
		Priority    int             `json:"priority"`
		Metadata    json.RawMessage `json:"metadata,omitempty"`
		CallbackURL string          `json:"callback_url,omitempty"`
		RunAt       string          `json:"run_at,omitempty"`
	}{input, valid.priority, valid.metadataHash, opts.CallbackURL, runAtString(opts.RunAt)})
	h.Write(canonical)
	return h.Sum(nil)
}

func runAtString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// insertOnlyClient inserts jobs inside callers' transactions; it has no pool
// and runs nothing, so any process can enqueue without being a worker. Its
// FetchCooldown spaces the insert notifications it sends.
var insertOnlyClient = sync.OnceValues(func() (*river.Client[pgx.Tx], error) {
	return newInsertClient(fetchCooldown, "")
})

// newInsertClient returns a River client that only inserts, sending an
// insert notification at most once per cooldown and queue, for River's
// tables in schema, or on the search_path when schema is empty.
//
// Its otelriver middleware makes a span of each insert, a child of the
// caller's (the HTTP request's), and writes the trace context into the
// job's metadata, where the workers' middleware links the job's span to
// it: without it a submission's trace would begin at its worker. It traces
// through the global tracer provider, since the client is made once for
// the process, whenever the first enqueue comes, and cannot be handed
// one; easel serve sets the global when tracing is on. An insert made
// outside any trace skips it (see insertTracing).
func newInsertClient(cooldown time.Duration, schema string) (*river.Client[pgx.Tx], error) {
	c, err := river.NewClient(riverpgxv5.New(nil), &river.Config{
		FetchCooldown:     cooldown,
		FetchPollInterval: max(cooldown, time.Second),
		Schema:            schema,
		Middleware:        []rivertype.Middleware{newInsertTracing()},
	})
	if err != nil {
		return nil, fmt.Errorf("create River insert client: %w", err)
	}
	return c, nil
}
