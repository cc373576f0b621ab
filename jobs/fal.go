package jobs

import (
	"context"
	"encoding/json"

	"github.com/easelhq/easel/fal"
)

// Fal is the part of fal's queue API that Easel's jobs use. *fal.Client
// implements it.
type Fal interface {
	Submit(ctx context.Context, req fal.SubmitRequest) (*fal.QueueResponse, error)
	Status(ctx context.Context, statusURL string) (*fal.Status, error)
	Result(ctx context.Context, responseURL string) (json.RawMessage, error)
	Cancel(ctx context.Context, cancelURL string) (fal.CancelOutcome, error)
	RequestURLs(endpointID, requestID string) (status, response, cancel string)
}

var _ Fal = (*fal.Client)(nil)
