package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/fal"
)

// historySpan is how far back the seeded history reaches. The recipes look
// at its last 7 and 30 days, so their cost depends on it; a year matches
// the history package's own benchmark (docs/BENCHMARKS.md).
const historySpan = 365 * 24 * time.Hour

// seedClients are the seeded generations' clients, the first the busiest.
var seedClients = []string{"avatars", "thumbnails", "marketing", "catalog", "support"}

// seedErrors are the error codes of seeded failures, the first the commonest.
var seedErrors = []struct{ code, message string }{
	{"invalid_input", "image_prompt_1.image_url: could not load the image"},
	{"image_load_error", "Failed to load the image. Please ensure the image URL is valid and accessible."},
	{"timeout", "fal did not finish the request within EASEL_TIMEOUT"},
	{"fal_rejected", "fal answered 422 Unprocessable Entity"},
	{"invalid_output", "decode fal output: images: missing"},
}

// seedGeneration is one seeded generation. Row i is derived from i alone,
// so the images can be generated in a second pass without keeping the
// generations in memory.
type seedGeneration struct {
	id                                    uuid.UUID
	client, status                        string
	input                                 []byte
	createdAt, updatedAt                  time.Time
	submittedAt, completedAt, finishedAt  *time.Time
	attempts, falSubmissions              int32
	falRequestID, errorCode, errorMessage *string
	hasNSFW                               *bool
	imageCount, nsfwImageCount            *int16
	inferenceSeconds                      *float64
}

// newSeedGeneration returns row i of rows, spread evenly over historySpan
// up to now: 93% completed (2% of them with an NSFW image, their first),
// 5% failed, 2% cancelled, and one in 5,000 stuck unfinished. Completed
// rows have has_nsfw and nsfw_image_count as store.Complete sets them from
// the images imageSource seeds.
func newSeedGeneration(i, rows int, now time.Time) seedGeneration {
	r := rand.New(rand.NewPCG(uint64(i), 0xea5e1))
	created := now.Add(-historySpan + time.Duration(int64(historySpan)/int64(rows)*int64(i)))
	g := seedGeneration{
		id:        uuidV7(created, r),
		client:    seedClients[weighted(r, 50, 25, 15, 7, 3)],
		createdAt: created,
		attempts:  1,
	}
	images := []int16{1, 2, 4}[weighted(r, 70, 15, 15)]
	g.input = fmt.Appendf(nil, `{"prompt": "seeded generation %d", "num_images": %d, "image_prompt_1": {"image_url": "https://example.com/reference.png"}}`, i, images)

	submitted := created.Add(20*time.Millisecond + time.Duration(r.Int64N(int64(300*time.Millisecond))))
	requestID := uuidV7(submitted, r).String()
	switch p := r.Float64(); {
	case p < 0.0002:
		g.status = "queued"
	case p < 0.0004:
		g.status, g.submittedAt, g.falRequestID, g.falSubmissions = "submitted", &submitted, &requestID, 1
	case p < 0.93:
		inference := 2 + 10*r.Float64()
		completed := submitted.Add(time.Duration((inference + 0.1 + 1.4*r.Float64()) * float64(time.Second)))
		var nsfwImages int16
		if r.Float64() < 0.02 {
			nsfwImages = 1
		}
		nsfw := nsfwImages > 0
		g.status, g.submittedAt, g.falRequestID, g.falSubmissions = "completed", &submitted, &requestID, 1
		g.completedAt, g.finishedAt = &completed, &completed
		g.hasNSFW, g.imageCount, g.nsfwImageCount, g.inferenceSeconds = &nsfw, &images, &nsfwImages, &inference
	case p < 0.98:
		failed := submitted.Add(time.Second + time.Duration(r.Int64N(int64(30*time.Second))))
		e := seedErrors[weighted(r, 40, 30, 15, 10, 5)]
		g.status, g.submittedAt, g.falRequestID, g.falSubmissions = "failed", &submitted, &requestID, 1
		g.finishedAt, g.errorCode, g.errorMessage = &failed, &e.code, &e.message
	default:
		cancelled := created.Add(time.Second + time.Duration(r.Int64N(int64(time.Minute))))
		code, message := "cancelled", "cancelled by the client"
		g.status, g.finishedAt, g.errorCode, g.errorMessage = "cancelled", &cancelled, &code, &message
	}
	g.updatedAt = created
	for _, t := range []*time.Time{g.submittedAt, g.finishedAt} {
		if t != nil {
			g.updatedAt = *t
		}
	}
	return g
}

// weighted picks an index with the given relative weights.
func weighted(r *rand.Rand, weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// uuidV7 is a version 7 UUID for t, as Easel gives generations, so that the
// seeded ids sort by creation like real ones.
func uuidV7(t time.Time, r *rand.Rand) uuid.UUID {
	var u uuid.UUID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(u[:6], ms[2:])
	binary.BigEndian.PutUint16(u[6:8], uint16(r.Uint32()))
	binary.BigEndian.PutUint64(u[8:], r.Uint64())
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return u
}

// seedHistory loads rows generations, and the images of the completed
// ones, by COPY.
func seedHistory(ctx context.Context, conn *pgx.Conn, rows int, progress func(string, ...any)) error {
	now := time.Now()
	gens := &generationSource{rows: rows, now: now}
	stop := heartbeat(progress, copyProgress("generations", rows, &gens.produced))
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"generations"}, []string{
		"id", "client", "status", "endpoint_id", "input", "created_at", "updated_at", "submitted_at",
		"completed_at", "finished_at", "attempts", "fal_submissions", "fal_request_id", "error_code",
		"error_message", "has_nsfw", "image_count", "nsfw_image_count", "inference_seconds",
	}, gens)
	stop()
	if err != nil {
		return fmt.Errorf("seed generations: %w", err)
	}
	progress("history: copying the images of the completed generations")
	images := &imageSource{rows: rows, now: now}
	stop = heartbeat(progress, copyProgress("images of generations", rows, &images.produced))
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"generation_images"}, []string{
		"generation_id", "position", "url", "content_type", "file_name", "file_size", "width", "height", "nsfw",
	}, images)
	stop()
	if err != nil {
		return fmt.Errorf("seed generation images: %w", err)
	}
	// What autovacuum would do to a table this size before anyone queried
	// it: statistics for the planner, a visibility map for index-only scans.
	progress("history: VACUUM (ANALYZE) of the seeded tables")
	stop = heartbeat(progress, func(elapsed time.Duration) string {
		return fmt.Sprintf("history: VACUUM (ANALYZE) running, %s", elapsed.Round(time.Second))
	})
	_, err = conn.Exec(ctx, `VACUUM (ANALYZE) generations, generation_images`)
	stop()
	if err != nil {
		return fmt.Errorf("vacuum seeded history: %w", err)
	}
	return nil
}

// generationSource is a pgx.CopyFromSource of seeded generations.
type generationSource struct {
	rows, next int
	now        time.Time
	current    seedGeneration
	produced   atomic.Int64 // rows handed to COPY, for progress
}

func (s *generationSource) Next() bool {
	if s.next >= s.rows {
		return false
	}
	s.current = newSeedGeneration(s.next, s.rows, s.now)
	s.next++
	s.produced.Store(int64(s.next))
	return true
}

func (s *generationSource) Values() ([]any, error) {
	g := &s.current
	return []any{
		g.id, g.client, g.status, fal.EndpointImagePrompt, g.input, g.createdAt, g.updatedAt, g.submittedAt,
		g.completedAt, g.finishedAt, g.attempts, g.falSubmissions, g.falRequestID, g.errorCode,
		g.errorMessage, g.hasNSFW, g.imageCount, g.nsfwImageCount, g.inferenceSeconds,
	}, nil
}

func (s *generationSource) Err() error { return nil }

// imageSource is a pgx.CopyFromSource of the images of the completed
// generations of a generationSource with the same rows and now.
type imageSource struct {
	rows, next int
	now        time.Time
	current    seedGeneration
	position   int16
	produced   atomic.Int64 // generations whose images were handed to COPY, for progress
}

func (s *imageSource) Next() bool {
	if s.current.imageCount != nil && s.position+1 < *s.current.imageCount {
		s.position++
		return true
	}
	for s.next < s.rows {
		s.current = newSeedGeneration(s.next, s.rows, s.now)
		s.next++
		s.produced.Store(int64(s.next))
		if s.current.imageCount != nil {
			s.position = 0
			return true
		}
	}
	return false
}

func (s *imageSource) Values() ([]any, error) {
	g := &s.current
	name := fmt.Sprintf("%s_%d.png", g.id, s.position)
	// The first nsfw_image_count images are the NSFW ones.
	nsfw := s.position < *g.nsfwImageCount
	return []any{
		g.id, s.position, "https://v3.fal.media/files/seeded/" + name, "image/png", name,
		int64(1_200_000 + s.next%400_000), int32(1024), int32(1024), nsfw,
	}, nil
}

func (s *imageSource) Err() error { return nil }

// copyProgress says how far a COPY of rows generations' what got: how many
// the source has handed to pgx, then, once all are, that Postgres is
// finishing the COPY, which for the images includes checking every foreign
// key, queued until the end.
func copyProgress(what string, rows int, produced *atomic.Int64) func(time.Duration) string {
	return func(elapsed time.Duration) string {
		if n := produced.Load(); n < int64(rows) {
			return fmt.Sprintf("history: %s: %d/%d copied", what, n, rows)
		}
		return fmt.Sprintf("history: %s: all %d sent, Postgres finishing the COPY (%s since it began)", what, rows, elapsed.Round(time.Second))
	}
}
