package jobs

import (
	"log/slog"

	"github.com/easelhq/easel/store"
)

// withFalRequest adds gen's fal_request_id to logger once fal has named the
// request, so that a line about a generation can be matched with fal's
// records of it. Before that there is no id to add.
func withFalRequest(logger *slog.Logger, gen *store.Generation) *slog.Logger {
	if gen.FalRequestID == nil {
		return logger
	}
	return logger.With("fal_request_id", *gen.FalRequestID)
}
