package store

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Status is a generation's lifecycle state.
type Status string

const (
	StatusQueued    Status = "queued"
	StatusSubmitted Status = "submitted"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Terminal reports whether s can never change again.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Generation is one row of the generations table.
type Generation struct {
	ID                  uuid.UUID
	Client              string
	Status              Status
	EndpointID          string
	Input               json.RawMessage
	Priority            int
	Metadata            json.RawMessage
	CallbackURL         *string
	IdempotencyKey      *string
	RequestHash         []byte
	Seed                *string // decimal; fal seeds exceed int64
	FalRequestID        *string
	FalGatewayRequestID *string
	FalStatusURL        *string
	FalResponseURL      *string
	FalCancelURL        *string
	CreatedAt           time.Time
	UpdatedAt           time.Time
	RunAt               *time.Time
	SubmittingAt        *time.Time
	SubmittedAt         *time.Time
	CompletedAt         *time.Time
	FinishedAt          *time.Time
	Attempts            int
	FalSubmissions      int
	// FalSubmissionsConfirmed counts the submissions whose answer Easel
	// recorded, never more than 1: each of FalSubmissions beyond it is a
	// request whose answer was lost, which fal may have billed.
	FalSubmissionsConfirmed int
	LastWebhookAt           *time.Time
	ErrorCode               *string
	ErrorMessage            *string
	HasNSFW                 *bool
	ImageCount              *int
	InferenceSeconds        *float64
	Timings                 json.RawMessage
	// FalStatus is fal's status of the request as fal last reported it,
	// at FalStatusAt: IN_QUEUE from its answer to the submit, then what
	// the reconciler's status poll saw (RecordFalStatus), COMPLETED once
	// fal's result finished the generation, or, for a generation Easel
	// cancelled at fal (a timeout, a client's cancel), what fal said just
	// before the cancel. FalQueuePosition is the position it gave with
	// IN_QUEUE. All three are nil until fal said anything, and stay as
	// history once the generation has finished.
	FalStatus        *string
	FalQueuePosition *int
	FalStatusAt      *time.Time
}

// Image is one row of generation_images.
type Image struct {
	Position    int
	URL         string
	ContentType string
	FileName    string
	FileSize    int64
	Width       int
	Height      int
	// NSFW is whether fal flagged the image NSFW, nil when that is
	// unknown (fal sent no usable flag for it): never read nil as clean.
	NSFW *bool
}

// Flagged reports whether fal flagged the image NSFW.
func (im Image) Flagged() bool { return im.NSFW != nil && *im.NSFW }

// NSFWUnknown reports whether the image's NSFW flag is unknown: it may be
// NSFW.
func (im Image) NSFWUnknown() bool { return im.NSFW == nil }

const generationColumns = `id, client, status, endpoint_id, input, priority, metadata, callback_url,
	idempotency_key, request_hash, seed::text, fal_request_id, fal_gateway_request_id,
	fal_status_url, fal_response_url, fal_cancel_url, created_at, updated_at, run_at, submitting_at,
	submitted_at, completed_at, finished_at, attempts, fal_submissions, fal_submissions_confirmed, last_webhook_at, error_code,
	error_message, has_nsfw, image_count, inference_seconds, timings, fal_status, fal_queue_position, fal_status_at`

type scanner interface{ Scan(dest ...any) error }

func scanGeneration(row scanner) (*Generation, error) {
	var g Generation
	// The jsonb columns are scanned as *[]byte: pgx copies their bytes (nil
	// for NULL), where a *json.RawMessage would go through json.Unmarshal,
	// which validates and copies text Postgres has just produced.
	err := row.Scan(&g.ID, &g.Client, &g.Status, &g.EndpointID, (*[]byte)(&g.Input), &g.Priority,
		(*[]byte)(&g.Metadata), &g.CallbackURL, &g.IdempotencyKey, &g.RequestHash, &g.Seed,
		&g.FalRequestID, &g.FalGatewayRequestID, &g.FalStatusURL, &g.FalResponseURL, &g.FalCancelURL,
		&g.CreatedAt, &g.UpdatedAt, &g.RunAt, &g.SubmittingAt, &g.SubmittedAt, &g.CompletedAt,
		&g.FinishedAt, &g.Attempts, &g.FalSubmissions, &g.FalSubmissionsConfirmed, &g.LastWebhookAt, &g.ErrorCode, &g.ErrorMessage,
		&g.HasNSFW, &g.ImageCount, &g.InferenceSeconds, (*[]byte)(&g.Timings), &g.FalStatus, &g.FalQueuePosition, &g.FalStatusAt)
	if err != nil {
		return nil, err
	}
	return &g, nil
}
