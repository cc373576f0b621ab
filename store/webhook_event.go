package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// WebhookOutcome is what became of a received webhook, as stored in
// webhook_events.outcome: one of the Outcome constants.
type WebhookOutcome string

// Outcomes of a received webhook.
const (
	OutcomeApplied      WebhookOutcome = "applied"       // finished the generation
	OutcomeDuplicate    WebhookOutcome = "duplicate"     // a repeat for a generation that already finished with a result
	OutcomeLate         WebhookOutcome = "late"          // a result for a generation that ended without one first (cancelled, timed out, failed by Easel); kept, not applied
	OutcomeDeferred     WebhookOutcome = "deferred"      // signed and parsed, but the reconciler applies it: its result must be fetched (payload_error), or it reports Easel's own cancel (client_cancelled)
	OutcomeBadSignature WebhookOutcome = "bad_signature" // verification failed; nothing applied
	OutcomeMalformed    WebhookOutcome = "malformed"     // signed, but the body is not a fal webhook

	// OutcomeMismatchedRequest is a signed delivery for a fal request that
	// is not the generation's (see LockWebhookTarget). fal signs every
	// account's webhooks with the same keys and the signature does not
	// cover the URL, so this is another account's request, or a replay of
	// another generation's result, sent to this generation's URL. Nothing
	// is applied.
	OutcomeMismatchedRequest WebhookOutcome = "mismatched_request"
	// OutcomeUnknownGeneration is a signed delivery whose URL names no
	// generation, stored with a null generation_id.
	OutcomeUnknownGeneration WebhookOutcome = "unknown_generation"
)

// WebhookEvent is one received webhook.
type WebhookEvent struct {
	GenerationID   *uuid.UUID
	FalRequestID   string
	Headers        map[string]string
	Body           []byte
	BodySize       int
	SignatureValid bool
	SignatureError string
	Outcome        WebhookOutcome
}

// MaxWebhookEvents bounds the events of each kind kept per generation. fal
// delivers a result once, or a few times when deliveries fail; anything
// beyond this is replayed or forged traffic, which must not grow the table
// without bound. Deliveries that failed verification are counted apart
// from signed ones, so the deliveries anyone can post cannot take the
// places of fal's; signed ones that name a fal request no signed event of
// the generation names yet have MaxWebhookEvents places more, so that
// replays of one delivery cannot take those of another request's.
const MaxWebhookEvents = 32

// MaxWebhookEventsPerGeneration bounds the events kept per generation:
// MaxWebhookEvents that failed verification, 2*MaxWebhookEvents signed ones
// (the second MaxWebhookEvents only for requests new to the generation),
// and the one that applied a result, which is always kept and can happen
// only once, since it finishes the generation.
const MaxWebhookEventsPerGeneration = 3*MaxWebhookEvents + 1

// InsertWebhookEvent stores a received webhook and returns its id. It
// returns ErrNotFound, writing nothing, when GenerationID names no
// generation, and 0 without storing the event when the generation has no
// room left for an event of its kind (see MaxWebhookEvents). GenerationID
// must be set: an event for no generation is
// InsertUnknownGenerationWebhookEvent's.
//
// Deliveries arriving together never exceed the caps: while the generation
// has room, the count and the insert are made holding the generation's
// row, as a signed delivery being recorded holds it (LockWebhookTarget).
// The lock is taken only while there is room, so a flood of forged
// deliveries past their cap takes none, writes nothing, and does not hold
// up the generation's own.
func InsertWebhookEvent(ctx context.Context, db Batcher, e WebhookEvent) (int64, error) {
	if e.GenerationID == nil {
		// A caller's mistake, not a generation that does not exist.
		return 0, errors.New("insert webhook event: GenerationID is nil; " +
			"an event for no generation is stored by InsertUnknownGenerationWebhookEvent")
	}
	// One round trip and one transaction: a batch runs in an implicit one,
	// so the lock is held until the insert is committed. The insert counts
	// again, in a snapshot of its own, taken once the lock is held.
	var (
		b       pgx.Batch
		id      int64
		scanErr error
	)
	b.Queue(lockWebhookEventRoom, e.GenerationID, e.FalRequestID, e.SignatureValid, e.Outcome, MaxWebhookEvents)
	b.Queue(insertWebhookEvent, e.insertArgs()...).QueryRow(func(row pgx.Row) error {
		id, scanErr = scanInsertedWebhookEvent(row, e)
		return scanErr
	})
	if err := db.SendBatch(ctx, &b).Close(); err != nil {
		if scanErr != nil {
			// With its context already.
			return 0, scanErr
		}
		return 0, fmt.Errorf("insert webhook event for generation %s: %w", e.GenerationID, err)
	}
	return id, nil
}

// webhookEventRoom is the condition under which an event is stored for
// generation g, given the placeholders of the event's fal request id, of
// whether its signature held, of its outcome, and of MaxWebhookEvents:
//
//   - the event that applied a result always is;
//   - one that failed verification is while fewer than MaxWebhookEvents
//     such events are stored;
//   - a signed one is while fewer than MaxWebhookEvents signed events are
//     stored, or, when it names a fal request that no signed event of the
//     generation names, fewer than 2*MaxWebhookEvents.
//
// Anyone can post to a generation's URL, so deliveries that failed
// verification are counted apart from signed ones: counted together, a
// few dozen unsigned posts would leave no room for fal's own deliveries,
// which are the evidence of what fal ran, and billed, for the generation.
// Signed deliveries are fal's, but may be replays of one genuine delivery
// within its signature's window: replays of a request already stored stop
// at MaxWebhookEvents, leaving the next MaxWebhookEvents places to requests
// new to the generation, such as the result of another submission that fal
// billed. Filling those takes that many distinct requests that fal ran and
// signed, where a generation of Easel's has at most one per submit attempt,
// and fewer attempts than MaxWebhookEvents; fal signs every account's
// webhooks with the same keys, though, so someone who knows the
// generation's id can fill them with results of requests of their own
// account, paying for each. Only a signed event's request
// counts as known: an unsigned one names whatever its sender chose. Hence
// at most MaxWebhookEventsPerGeneration events per generation.
func webhookEventRoom(requestID, signed, outcome, limit string) string {
	return fmt.Sprintf(`(%[3]s = 'applied' OR (
		SELECT count(*) FILTER (WHERE w.signature_valid = %[2]s) < CASE
			WHEN %[2]s AND %[1]s <> '' AND NOT coalesce(bool_or(w.signature_valid AND w.fal_request_id = %[1]s), false)
			THEN 2 * %[4]s ELSE %[4]s END
		FROM webhook_events w WHERE w.generation_id = g.id))`, requestID, signed, outcome, limit)
}

// lockWebhookEventRoom locks generation $1 when, as far as the statement's
// snapshot shows, an event of fal request $2, signed or not ($3), with
// outcome $4 may still be stored for it under MaxWebhookEvents $5:
// insertWebhookEvent's rule (webhookEventRoom). FOR NO KEY UPDATE waits for
// LockWebhookTarget's FOR UPDATE and for other deliveries, not for the
// foreign key checks of rows that reference the generation.
var lockWebhookEventRoom = `
	SELECT FROM generations g
	WHERE g.id = $1 AND ` + webhookEventRoom("$2::text", "$3::boolean", "$4::text", "$5::int") + `
	FOR NO KEY UPDATE`

// insertWebhookEvent is InsertWebhookEvent's statement; insertArgs gives
// its arguments and scanInsertedWebhookEvent reads its answer.
var insertWebhookEvent = `
	WITH target AS (
		SELECT g.id, ` + webhookEventRoom("$2", "$6", "$8", "$9") + ` AS room
		FROM generations g WHERE g.id = $1
	), inserted AS (
		INSERT INTO webhook_events (generation_id, fal_request_id, headers, body, body_size,
			signature_valid, signature_error, outcome)
		SELECT target.id, NULLIF($2, ''), $3, $4, $5, $6, NULLIF($7, ''), $8
		FROM target WHERE target.room
		RETURNING id
	)
	SELECT (SELECT id FROM inserted), EXISTS (SELECT 1 FROM target)`

func (e WebhookEvent) insertArgs() []any {
	headers := e.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	return []any{e.GenerationID, e.FalRequestID, headers, e.Body, e.BodySize, e.SignatureValid, e.SignatureError, e.Outcome,
		MaxWebhookEvents}
}

func scanInsertedWebhookEvent(row pgx.Row, e WebhookEvent) (int64, error) {
	var (
		id     *int64
		exists bool
	)
	if err := row.Scan(&id, &exists); err != nil {
		return 0, fmt.Errorf("insert webhook event: %w", err)
	}
	if !exists {
		return 0, fmt.Errorf("webhook event for generation %s: %w", e.GenerationID, ErrNotFound)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}
