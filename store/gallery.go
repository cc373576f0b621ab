package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// GalleryItem is one generation as the gallery lists it: the row's summary
// and its first image, if any.
type GalleryItem struct {
	ID         uuid.UUID
	Client     string
	Status     Status
	Prompt     string // its first 200 characters; the detail page shows all of it
	CreatedAt  time.Time
	FinishedAt *time.Time
	ImageCount int
	// HasNSFW is the generation's has_nsfw: nil when it is not known
	// whether an image is NSFW (see NSFWUnknown), or before it completes.
	HasNSFW    *bool
	ErrorCode  string
	FirstImage *Image // nil until completed with images
}

// GalleryParams select one page of the gallery, newest first. At most one of
// Before and After is set: Before pages towards older rows, After towards
// newer ones. Pages are found by comparing (created_at, id) with the cursor
// rather than by OFFSET, so the thousandth page costs what the first does.
type GalleryParams struct {
	Status Status // empty: every status
	Before *GenerationCursor
	After  *GenerationCursor
	Limit  int
}

// Flagged reports whether fal flagged any of the item's images NSFW.
func (item GalleryItem) Flagged() bool { return item.HasNSFW != nil && *item.HasNSFW }

// NSFWUnknown reports whether the item completed with images none of which
// is flagged but some of whose flags are unknown: it may be NSFW, and is
// never to be shown as clean.
func (item GalleryItem) NSFWUnknown() bool {
	return item.HasNSFW == nil && item.Status == StatusCompleted
}

// Cursor returns the position of item in the newest-first order.
func (item GalleryItem) Cursor() GenerationCursor {
	return GenerationCursor{CreatedAt: item.CreatedAt, ID: item.ID}
}

// galleryPromptChars bounds the prompt text a tile carries; the detail page
// shows all of it.
const galleryPromptChars = 200

// ListGallery returns up to p.Limit generations in the gallery's order
// (newest first), and whether more rows lie beyond the page in the direction
// of travel: older ones for Before or no cursor, newer ones for After.
func ListGallery(ctx context.Context, db DBTX, p GalleryParams) ([]GalleryItem, bool, error) {
	if p.Limit < 1 {
		return nil, false, fmt.Errorf("list gallery: limit %d must be positive", p.Limit)
	}
	// The statement is assembled from the conditions present instead of
	// "($1 IS NULL OR ...)" so that each shape gets a plan that walks an
	// index in order and stops after Limit+1 rows.
	var where []string
	args := []any{p.Limit + 1}
	if p.Status != "" {
		args = append(args, p.Status)
		where = append(where, fmt.Sprintf("g.status = $%d", len(args)))
	}
	order := "DESC"
	cursor, cmp := p.Before, "<"
	if p.After != nil {
		cursor, cmp, order = p.After, ">", "ASC"
	}
	if cursor != nil {
		args = append(args, cursor.CreatedAt, cursor.ID)
		where = append(where, fmt.Sprintf("(g.created_at, g.id) %s ($%d, $%d)", cmp, len(args)-1, len(args)))
	}
	sql := `
		SELECT g.id, g.client, g.status, left(coalesce(g.input->>'prompt', ''), ` + fmt.Sprint(galleryPromptChars) + `),
			g.created_at, g.finished_at, coalesce(g.image_count, 0), g.has_nsfw, coalesce(g.error_code, ''),
			i.position, i.url, coalesce(i.content_type, ''), coalesce(i.file_name, ''), coalesce(i.file_size, 0),
			coalesce(i.width, 0), coalesce(i.height, 0), i.nsfw
		FROM generations g
		LEFT JOIN LATERAL (
			SELECT position, url, content_type, file_name, file_size, width, height, nsfw
			FROM generation_images WHERE generation_id = g.id ORDER BY position LIMIT 1
		) i ON true`
	if len(where) > 0 {
		sql += "\n\t\tWHERE " + strings.Join(where, " AND ")
	}
	sql += fmt.Sprintf("\n\t\tORDER BY g.created_at %s, g.id %s\n\t\tLIMIT $1", order, order)

	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, fmt.Errorf("list gallery: %w", err)
	}
	items, err := pgx.CollectRows(rows, scanGalleryItem)
	if err != nil {
		return nil, false, fmt.Errorf("list gallery: %w", err)
	}
	more := len(items) > p.Limit
	if more {
		items = items[:p.Limit]
	}
	if p.After != nil {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	return items, more, nil
}

func scanGalleryItem(row pgx.CollectableRow) (GalleryItem, error) {
	var (
		item     GalleryItem
		position *int
		url      *string
		im       Image
		nsfw     *bool
	)
	err := row.Scan(&item.ID, &item.Client, &item.Status, &item.Prompt, &item.CreatedAt, &item.FinishedAt,
		&item.ImageCount, &item.HasNSFW, &item.ErrorCode,
		&position, &url, &im.ContentType, &im.FileName, &im.FileSize, &im.Width, &im.Height, &nsfw)
	if err != nil {
		return item, err
	}
	if url != nil {
		im.Position, im.URL, im.NSFW = *position, *url, nsfw
		item.FirstImage = &im
	}
	return item, nil
}
