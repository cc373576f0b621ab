package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// GetGeneration returns the generation with id, or ErrNotFound.
func GetGeneration(ctx context.Context, db DBTX, id uuid.UUID) (*Generation, error) {
	return getGeneration(ctx, db, id, "")
}

// LockGeneration is GetGeneration holding a row lock until the caller's
// transaction ends, which serialises the submit worker, webhooks and the
// reconciler on one generation.
func LockGeneration(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*Generation, error) {
	return getGeneration(ctx, tx, id, " FOR UPDATE")
}

func getGeneration(ctx context.Context, db DBTX, id uuid.UUID, suffix string) (*Generation, error) {
	g, err := scanGeneration(db.QueryRow(ctx, `SELECT `+generationColumns+` FROM generations WHERE id = $1`+suffix, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("generation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get generation %s: %w", id, err)
	}
	return g, nil
}

// GetGenerationByIdempotencyKey returns the client's generation created with
// key, or ErrNotFound.
func GetGenerationByIdempotencyKey(ctx context.Context, db DBTX, client, key string) (*Generation, error) {
	g, err := scanGeneration(db.QueryRow(ctx,
		`SELECT `+generationColumns+` FROM generations WHERE client = $1 AND idempotency_key = $2`, client, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("generation with idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get generation by idempotency key: %w", err)
	}
	return g, nil
}

// ListImages returns a generation's images in position order.
func ListImages(ctx context.Context, db DBTX, generationID uuid.UUID) ([]Image, error) {
	rows, err := db.Query(ctx, `
		SELECT position, url, coalesce(content_type, ''), coalesce(file_name, ''), coalesce(file_size, 0),
			coalesce(width, 0), coalesce(height, 0), nsfw
		FROM generation_images WHERE generation_id = $1 ORDER BY position`, generationID)
	if err != nil {
		return nil, fmt.Errorf("list images of %s: %w", generationID, err)
	}
	images, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Image, error) {
		var im Image
		err := row.Scan(&im.Position, &im.URL, &im.ContentType, &im.FileName, &im.FileSize, &im.Width, &im.Height, &im.NSFW)
		return im, err
	})
	if err != nil {
		return nil, fmt.Errorf("list images of %s: %w", generationID, err)
	}
	return images, nil
}
