// Package resource is Easel's JSON representation of a generation: the body
// of /v1 responses and of the callbacks posted to callers. It is its own
// package so that the API and the jobs that post callbacks share one
// definition without depending on each other.
package resource

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/easelhq/easel/store"
)

// Generation is the JSON resource of one generation.
type Generation struct {
	ID                      uuid.UUID       `json:"id"`
	Client                  string          `json:"client"`
	Status                  store.Status    `json:"status"`
	Endpoint                string          `json:"endpoint"`
	Input                   json.RawMessage `json:"input"`
	Priority                int             `json:"priority"`
	Metadata                json.RawMessage `json:"metadata"`
	CallbackURL             *string         `json:"callback_url"`
	Seed                    json.RawMessage `json:"seed"` // a JSON number, exact even beyond 2^53
	FalRequestID            *string         `json:"fal_request_id"`
	CreatedAt               time.Time       `json:"created_at"`
	RunAt                   *time.Time      `json:"run_at"`
	SubmittedAt             *time.Time      `json:"submitted_at"`
	CompletedAt             *time.Time      `json:"completed_at"`
	FinishedAt              *time.Time      `json:"finished_at"`
	Attempts                int             `json:"attempts"`
	FalSubmissions          int             `json:"fal_submissions"`
	FalSubmissionsConfirmed int             `json:"fal_submissions_confirmed"`
	// FalStatus is fal's latest status of the request as Easel recorded
	// it, at FalStatusAt, FalQueuePosition its position when IN_QUEUE:
	// from fal's answer to the submit, the reconciler's polls and the
	// status asked just before a cancel; COMPLETED once fal's result
	// finished it. Why a submitted generation is not done yet.
	FalStatus        *string         `json:"fal_status"`
	FalQueuePosition *int            `json:"fal_queue_position"`
	FalStatusAt      *time.Time      `json:"fal_status_at"`
	Error            *ErrorInfo      `json:"error"`
	HasNSFW          *bool           `json:"has_nsfw"`
	InferenceSeconds *float64        `json:"inference_seconds"`
	Timings          json.RawMessage `json:"timings"`
	Images           []Image         `json:"images"`
}

// ErrorInfo explains why a generation failed or was cancelled.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Image is one generated image.
type Image struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type,omitempty"`
	FileName    string `json:"file_name,omitempty"`
	FileSize    int64  `json:"file_size,omitempty"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	// NSFW is whether fal flagged the image NSFW; null when that is
	// unknown (fal sent no usable flag for it), which is never "clean".
	NSFW *bool `json:"nsfw"`
}

// NewGeneration renders a stored generation and its images.
func NewGeneration(g *store.Generation, images []store.Image) *Generation {
	r := &Generation{
		ID: g.ID, Client: g.Client, Status: g.Status, Endpoint: g.EndpointID, Input: g.Input,
		Priority: g.Priority, Metadata: g.Metadata, CallbackURL: g.CallbackURL, Seed: json.RawMessage("null"),
		FalRequestID: g.FalRequestID, CreatedAt: g.CreatedAt, RunAt: g.RunAt, SubmittedAt: g.SubmittedAt,
		CompletedAt: g.CompletedAt, FinishedAt: g.FinishedAt, Attempts: g.Attempts, FalSubmissions: g.FalSubmissions,
		FalSubmissionsConfirmed: g.FalSubmissionsConfirmed, HasNSFW: g.HasNSFW, InferenceSeconds: g.InferenceSeconds,
		Timings: g.Timings, Images: make([]Image, len(images)),
		FalStatus: g.FalStatus, FalQueuePosition: g.FalQueuePosition, FalStatusAt: g.FalStatusAt,
	}
	if g.Seed != nil {
		r.Seed = json.RawMessage(*g.Seed)
	}
	if len(r.Timings) == 0 {
		r.Timings = json.RawMessage("null")
	}
	if g.ErrorCode != nil || g.ErrorMessage != nil {
		r.Error = &ErrorInfo{Code: deref(g.ErrorCode), Message: deref(g.ErrorMessage)}
	}
	for i, im := range images {
		r.Images[i] = Image{URL: im.URL, ContentType: im.ContentType, FileName: im.FileName, FileSize: im.FileSize,
			Width: im.Width, Height: im.Height, NSFW: im.NSFW}
	}
	return r
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
