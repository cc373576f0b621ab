package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ListGenerationsParams select one page of generations, newest first.
type ListGenerationsParams struct {
	Statuses []Status // empty: every status
	Client   string   // empty: every client
	Since    time.Time
	Until    time.Time
	HasNSFW  *bool
	// After is the position of the previous page's last row; nil starts at
	// the newest generation.
	After *GenerationCursor
	Limit int
}

// GenerationCursor is a position in the newest-first order of generations,
// (created_at, id) descending. A page starts strictly after its cursor, so
// rows inserted while a client pages through appear before its first page,
// never inside the pages that follow. (created_at is when the inserting
// transaction began: a transaction older than the first page that commits
// later lands behind it.)
type GenerationCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// ListGenerations returns up to p.Limit generations created in [p.Since,
// p.Until) (a zero time leaves that side open) that match p's filters,
// newest first, and the cursor of the next page, nil on the last page.
// HasNSFW set to false matches completed generations without NSFW images
// whose every image's flag is known; neither value matches one whose
// has_nsfw is unknown (NULL).
func ListGenerations(ctx context.Context, db DBTX, p ListGenerationsParams) ([]*Generation, *GenerationCursor, error) {
	if p.Limit < 1 {
		return nil, nil, fmt.Errorf("list generations: limit %d must be positive", p.Limit)
	}
	if p.HasNSFW != nil && len(p.Statuses) > 0 && !slices.Contains(p.Statuses, StatusCompleted) {
		// has_nsfw is set only on completed generations, so nothing can
		// match, and the query would read every row to find that out.
		return nil, nil, nil
	}
	// The statement holds only the conditions present, rather than
	// "($1 IS NULL OR ...)", so that each shape gets a plan that walks an
	// index in order and stops after Limit+1 rows.
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(p.Statuses) > 0 {
		statuses := make([]string, len(p.Statuses))
		for i, s := range p.Statuses {
			statuses[i] = string(s)
		}
		where = append(where, "status = ANY("+arg(statuses)+"::text[])")
	}
	if p.Client != "" {
		where = append(where, "client = "+arg(p.Client))
	}
	if !p.Since.IsZero() {
		where = append(where, "created_at >= "+arg(p.Since))
	}
	if !p.Until.IsZero() {
		where = append(where, "created_at < "+arg(p.Until))
	}
	if p.HasNSFW != nil {
		where = append(where, "has_nsfw = "+arg(*p.HasNSFW))
	}
	if p.After != nil {
		where = append(where, fmt.Sprintf("(created_at, id) < (%s, %s)", arg(p.After.CreatedAt), arg(p.After.ID)))
	}
	sql := `SELECT ` + generationColumns + ` FROM generations`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, ` AND `)
	}
	sql += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(p.Limit+1)

	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list generations: %w", err)
	}
	gens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Generation, error) { return scanGeneration(row) })
	if err != nil {
		return nil, nil, fmt.Errorf("list generations: %w", err)
	}
	if len(gens) <= p.Limit {
		return gens, nil, nil
	}
	gens = gens[:p.Limit]
	last := gens[len(gens)-1]
	return gens, &GenerationCursor{CreatedAt: last.CreatedAt, ID: last.ID}, nil
}

// ListImagesOf returns the images of several generations, in position
// order, in one query: a page of generations costs two round trips however
// long it is. Generations without images are absent from the map.
func ListImagesOf(ctx context.Context, db DBTX, generationIDs []uuid.UUID) (map[uuid.UUID][]Image, error) {
	images := make(map[uuid.UUID][]Image)
	if len(generationIDs) == 0 {
		return images, nil
	}
	rows, err := db.Query(ctx, `
		SELECT generation_id, position, url, coalesce(content_type, ''), coalesce(file_name, ''),
			coalesce(file_size, 0), coalesce(width, 0), coalesce(height, 0), nsfw
		FROM generation_images WHERE generation_id = ANY($1)
		ORDER BY generation_id, position`, generationIDs)
	if err != nil {
		return nil, fmt.Errorf("list images of %d generations: %w", len(generationIDs), err)
	}
	var id uuid.UUID
	var im Image
	_, err = pgx.ForEachRow(rows, []any{&id, &im.Position, &im.URL, &im.ContentType, &im.FileName, &im.FileSize,
		&im.Width, &im.Height, &im.NSFW}, func() error {
		images[id] = append(images[id], im)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list images of %d generations: %w", len(generationIDs), err)
	}
	return images, nil
}
