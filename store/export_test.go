package store

import (
	"context"

	"github.com/google/uuid"
)

// OldestUnfinishedSQL is OldestUnfinished's statement, for its plan.
const OldestUnfinishedSQL = oldestUnfinished

// NoteWebhook notes a webhook on generation id as a noted WebhookWrite
// does, with the same statement, but stores no event: tests reach the
// state a webhook that beat the submit call leaves without a delivery's
// row in webhook_events.
func NoteWebhook(ctx context.Context, db DBTX, id uuid.UUID, falRequestID string) error {
	_, err := db.Exec(ctx, noteWebhook, id, falRequestID)
	return err
}
