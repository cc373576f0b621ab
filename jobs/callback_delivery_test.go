package jobs_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

const callbackSecret = "whsec_dGVzdC1rZXktb2YtZWFzZWwtY2FsbGJhY2tzLTMyYg=="

type callbackRequest struct {
	header http.Header
	body   []byte
}

// callbackBundle is a database, a callback receiver on loopback answering
// with status, and the jobs' config delivering to it.
type callbackBundle struct {
	ctx      context.Context
	pool     *pgxpool.Pool
	cfg      jobs.Config
	receiver *httptest.Server
	requests chan callbackRequest
	status   atomic.Int32
	// header and body, when set, are added to every answer.
	header atomic.Pointer[http.Header]
	body   atomic.Pointer[string]
	// during, when set, runs while the receiver holds a request.
	during atomic.Pointer[func()]
}

func setupCallbacks(t *testing.T, allowPrivate bool) *callbackBundle {
	t.Helper()
	b := &callbackBundle{ctx: context.Background(), pool: dbtest.Pool(t), requests: make(chan callbackRequest, 16)}
	b.status.Store(http.StatusOK)
	b.receiver = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if during := b.during.Load(); during != nil {
			(*during)()
		}
		b.requests <- callbackRequest{header: r.Header.Clone(), body: body}
		if h := b.header.Load(); h != nil {
			for name, values := range *h {
				w.Header()[name] = values
			}
		}
		w.WriteHeader(int(b.status.Load()))
		if answer := b.body.Load(); answer != nil {
			_, _ = io.WriteString(w, *answer)
		}
	}))
	t.Cleanup(b.receiver.Close)
	secrets, err := callbacks.ParseSecrets(callbackSecret)
	require.NoError(t, err)
	b.cfg = jobs.Config{
		Callbacks: callbacks.NewDeliverer(secrets, &callbacks.Policy{AllowPrivate: allowPrivate}),
		Logger:    slog.New(slog.DiscardHandler),
	}
	return b
}

// finished enqueues a generation calling back callbackURL and fails it,
// which makes the database owe its callback.
func (b *callbackBundle) finished(t *testing.T, callbackURL string) *store.Generation {
	t.Helper()
	var gen *store.Generation
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		enqueued, err := jobs.Enqueue(b.ctx, tx, "tests", testInput, &jobs.EnqueueOpts{CallbackURL: callbackURL})
		if err == nil {
			gen = enqueued.Generation
		}
		return err
	}))
	_, err := store.Fail(b.ctx, b.pool, gen.ID, "fal_rejected", "rejected by fal")
	require.NoError(t, err)
	return gen
}

func (b *callbackBundle) delivery(t *testing.T, generationID uuid.UUID) *store.CallbackDelivery {
	t.Helper()
	var id uuid.UUID
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT id FROM callback_deliveries WHERE generation_id = $1`, generationID).Scan(&id))
	d, err := store.GetCallbackDelivery(b.ctx, b.pool, id)
	require.NoError(t, err)
	return d
}

// work runs one attempt of the delivery's job, as River would. A delivery
// no dispatcher gave a job is given job 9, which River does not have.
func (b *callbackBundle) work(t *testing.T, d *store.CallbackDelivery, attempt int) error {
	t.Helper()
	jobID := int64(9)
	if d.JobID != nil {
		jobID = *d.JobID
	} else {
		_, err := b.pool.Exec(b.ctx, `UPDATE callback_deliveries SET job_id = $2 WHERE id = $1`, d.ID, jobID)
		require.NoError(t, err)
	}
	return b.workAs(t, d, jobID, attempt)
}

func (b *callbackBundle) workAs(t *testing.T, d *store.CallbackDelivery, jobID int64, attempt int) error {
	t.Helper()
	return jobs.NewCallbackDeliveryWorker(b.pool, b.cfg).Work(b.ctx, &river.Job[jobs.CallbackDeliveryArgs]{
		JobRow: &rivertype.JobRow{ID: jobID, Attempt: attempt, MaxAttempts: jobs.CallbackDeliveryArgs{}.InsertOpts().MaxAttempts},
		Args:   jobs.CallbackDeliveryArgs{DeliveryID: d.ID, GenerationID: d.GenerationID},
	})
}

// verify checks a callback's signature from the specification alone, with
// the secret of the client "tests", which b.finished enqueues as.
func verify(t *testing.T, r callbackRequest) {
	t.Helper()
	master, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(callbackSecret, "whsec_"))
	require.NoError(t, err)
	derive := hmac.New(sha256.New, master)
	derive.Write([]byte("easel-callback-v1\x00tests"))
	mac := hmac.New(sha256.New, derive.Sum(nil))
	mac.Write([]byte(r.header.Get("webhook-id") + "." + r.header.Get("webhook-timestamp") + "."))
	mac.Write(r.body)
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), r.header.Get("webhook-signature"))
}

func TestCallbackDispatchInsertsOneJobPerCallback(t *testing.T) {
	t.Parallel()
	b := setupCallbacks(t, true)
	first := b.finished(t, b.receiver.URL+"/a")
	second := b.finished(t, b.receiver.URL+"/b")
	b.finished(t, "")

	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{})
	require.NoError(t, err)
	dispatcher := jobs.NewCallbackDispatcher(b.pool, client, b.cfg.Logger)
	n, err := dispatcher.Dispatch(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	for _, gen := range []*store.Generation{first, second} {
		d := b.delivery(t, gen.ID)
		require.NotNil(t, d.JobID)
		var kind, queue string
		var args jobs.CallbackDeliveryArgs
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT kind, queue, args FROM river_job WHERE id = $1`, *d.JobID).Scan(&kind, &queue, &args))
		require.Equal(t, "callback_delivery", kind)
		require.Equal(t, jobs.QueueCallbacks, queue)
		require.Equal(t, jobs.CallbackDeliveryArgs{DeliveryID: d.ID, GenerationID: gen.ID}, args)
	}

	n, err = dispatcher.Dispatch(b.ctx)
	require.NoError(t, err)
	require.Zero(t, n, "every callback already has its job")
}

// A failed attempt is recorded and retried; the retry carries the same
// webhook-id, a fresh signature, and the generation as the API shows it.
func TestCallbackDeliveryRetriesThenDelivers(t *testing.T) {
	t.Parallel()
	b := setupCallbacks(t, true)
	gen := b.finished(t, b.receiver.URL+"/hooks/easel?token=s3cr3t")
	d := b.delivery(t, gen.ID)

	b.status.Store(http.StatusServiceUnavailable)
	err := b.work(t, d, 1)
	require.ErrorContains(t, err, "receiver answered 503")
	var cancel *river.JobCancelError
	require.NotErrorAs(t, err, &cancel, "a 503 is retried")
	first := <-b.requests
	verify(t, first)
	require.Equal(t, gen.ID.String(), first.header.Get(callbacks.HeaderGenerationID))
	require.Equal(t, "1", first.header.Get(callbacks.HeaderAttempt))

	d = b.delivery(t, gen.ID)
	require.Equal(t, 1, d.Attempts)
	require.Equal(t, 503, *d.LastStatus)
	require.Contains(t, *d.LastError, "503")
	require.Nil(t, d.DeliveredAt)
	require.Nil(t, d.AbandonedAt)

	b.status.Store(http.StatusNoContent)
	require.NoError(t, b.work(t, d, 2))
	second := <-b.requests
	verify(t, second)
	require.Equal(t, gen.ID.String(), second.header.Get(callbacks.HeaderGenerationID))
	require.Equal(t, "2", second.header.Get(callbacks.HeaderAttempt))
	require.Equal(t, d.ID.String(), first.header.Get("webhook-id"))
	require.Equal(t, first.header.Get("webhook-id"), second.header.Get("webhook-id"), "one delivery, one webhook-id")

	var resource struct {
		ID     uuid.UUID `json:"id"`
		Status string    `json:"status"`
		Error  struct {
			Code string `json:"code"`
		} `json:"error"`
		CallbackURL string `json:"callback_url"`
	}
	require.NoError(t, json.Unmarshal(second.body, &resource))
	require.Equal(t, gen.ID, resource.ID)
	require.Equal(t, "failed", resource.Status)
	require.Equal(t, "fal_rejected", resource.Error.Code)
	require.Equal(t, b.receiver.URL+"/hooks/easel?token=s3cr3t", resource.CallbackURL)

	d = b.delivery(t, gen.ID)
	require.Equal(t, 2, d.Attempts)
	require.Equal(t, 204, *d.LastStatus)
	require.Nil(t, d.LastError)
	require.NotNil(t, d.DeliveredAt)

	// A run River rescues after the delivery ended sends nothing.
	require.NoError(t, b.work(t, d, 3))
	require.Empty(t, b.requests)
}

func TestCallbackDeliveryAbandons(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name         string
		allowPrivate bool
		status       int
		attempt      int
		cancelled    bool
		wantErr      string
	}{
		{name: "receiver gone", allowPrivate: true, status: http.StatusGone, attempt: 1, cancelled: true, wantErr: "410"},
		{name: "private address", allowPrivate: false, status: http.StatusOK, attempt: 1, cancelled: true, wantErr: "address is not public"},
		{name: "last attempt fails", allowPrivate: true, status: http.StatusInternalServerError, attempt: 11, wantErr: "500"},
		{name: "last attempt refused", allowPrivate: true, status: http.StatusUnauthorized, attempt: 11, wantErr: "401"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupCallbacks(t, tt.allowPrivate)
			b.status.Store(int32(tt.status))
			gen := b.finished(t, b.receiver.URL)
			d := b.delivery(t, gen.ID)

			err := b.work(t, d, tt.attempt)
			require.ErrorContains(t, err, tt.wantErr)
			var cancel *river.JobCancelError
			require.Equal(t, tt.cancelled, errors.As(err, &cancel))

			d = b.delivery(t, gen.ID)
			require.Equal(t, 1, d.Attempts)
			require.NotNil(t, d.AbandonedAt)
			require.Nil(t, d.DeliveredAt)
			require.Contains(t, *d.LastError, tt.wantErr)
		})
	}
}

// A receiver's refusal other than 410 may be passing (its deploy, its clock,
// a secret being rotated): it is retried like a 5xx.
func TestCallbackDeliveryRetriesRefusals(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusConflict} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			b := setupCallbacks(t, true)
			b.status.Store(int32(status))
			gen := b.finished(t, b.receiver.URL)
			d := b.delivery(t, gen.ID)

			err := b.work(t, d, 1)
			require.Error(t, err)
			var cancel *river.JobCancelError
			require.NotErrorAs(t, err, &cancel)
			d = b.delivery(t, gen.ID)
			require.Nil(t, d.AbandonedAt)
			require.Equal(t, status, *d.LastStatus)

			b.status.Store(http.StatusOK)
			require.NoError(t, b.work(t, d, 2))
			require.NotNil(t, b.delivery(t, gen.ID).DeliveredAt)
			require.Len(t, b.requests, 2)
		})
	}
}

// A URL written in SQL that no enqueue would have accepted is abandoned at
// its first attempt, not retried for a day.
func TestCallbackDeliveryAbandonsInvalidURL(t *testing.T) {
	t.Parallel()
	b := setupCallbacks(t, true)
	gen := b.finished(t, b.receiver.URL)
	d := b.delivery(t, gen.ID)
	ftp := "ftp" + strings.TrimPrefix(b.receiver.URL, "http") + "/hook?token=s3cr3t"
	_, err := b.pool.Exec(b.ctx, `UPDATE callback_deliveries SET url = $2 WHERE id = $1`, d.ID, ftp)
	require.NoError(t, err)

	err = b.work(t, d, 1)
	var cancel *river.JobCancelError
	require.ErrorAs(t, err, &cancel)
	require.ErrorContains(t, err, "callback_url must be an absolute http or https URL")
	d = b.delivery(t, gen.ID)
	require.NotNil(t, d.AbandonedAt)
	require.Equal(t, 1, d.Attempts)
	require.NotContains(t, *d.LastError, "s3cr3t")
	require.Empty(t, b.requests)
}

// An attempt is counted before its request is sent: a process killed while
// the receiver holds the request leaves it counted, and says so.
func TestCallbackAttemptCountedBeforeSending(t *testing.T) {
	t.Parallel()
	b := setupCallbacks(t, true)
	gen := b.finished(t, b.receiver.URL)
	d := b.delivery(t, gen.ID)

	b.status.Store(http.StatusServiceUnavailable)
	var seen *store.CallbackDelivery
	var seenErr error
	during := func() { seen, seenErr = store.GetCallbackDelivery(b.ctx, b.pool, d.ID) }
	b.during.Store(&during)
	require.Error(t, b.work(t, d, 1))
	<-b.requests
	require.NoError(t, seenErr)
	require.Equal(t, 1, seen.Attempts)
	require.NotNil(t, seen.LastAttemptAt)
	require.Nil(t, seen.LastStatus)
	require.Contains(t, *seen.LastError, "no outcome recorded")

	d = b.delivery(t, gen.ID)
	require.Equal(t, 1, d.Attempts, "counted once")
	require.Equal(t, http.StatusServiceUnavailable, *d.LastStatus)
	require.Contains(t, *d.LastError, "503")
}

// A job whose delivery was asked for again, and so is another job's or
// none's yet, posts nothing: two jobs never deliver one callback at once.
func TestCallbackDeliveryOfAnotherJob(t *testing.T) {
	t.Parallel()
	b := setupCallbacks(t, true)
	gen := b.finished(t, b.receiver.URL)
	d := b.delivery(t, gen.ID)
	require.NoError(t, b.workAs(t, d, 9, 1), "no job yet")
	_, err := b.pool.Exec(b.ctx, `UPDATE callback_deliveries SET job_id = 10 WHERE id = $1`, d.ID)
	require.NoError(t, err)
	require.NoError(t, b.workAs(t, d, 9, 1), "another job's")
	require.Empty(t, b.requests)
	d = b.delivery(t, gen.ID)
	require.Zero(t, d.Attempts)
	require.Nil(t, d.LastError)
}

func TestCallbackDeliveryWithoutSecretRetries(t *testing.T) {
	t.Parallel()
	b := setupCallbacks(t, true)
	b.cfg.Callbacks = nil
	gen := b.finished(t, b.receiver.URL)
	d := b.delivery(t, gen.ID)

	err := b.work(t, d, 1)
	require.ErrorIs(t, err, callbacks.ErrNoSecret)
	require.Empty(t, b.requests)
	d = b.delivery(t, gen.ID)
	require.Nil(t, d.AbandonedAt, "delivered once a secret is configured")
	require.Contains(t, *d.LastError, "no callback secret")
}

// Retries spread over just under a day.
func TestCallbackRetrySchedule(t *testing.T) {
	t.Parallel()
	w := jobs.NewCallbackDeliveryWorker(nil, jobs.Config{})
	maxAttempts := jobs.CallbackDeliveryArgs{}.InsertOpts().MaxAttempts
	var total time.Duration
	previous := time.Duration(0)
	for attempt := 1; attempt < maxAttempts; attempt++ {
		start := time.Now()
		delay := w.NextRetry(&river.Job[jobs.CallbackDeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: attempt}}).Sub(start)
		require.Positive(t, delay)
		require.GreaterOrEqual(t, delay, previous*8/10, "delays do not shrink, jitter aside")
		total += delay
		previous = delay
	}
	require.Less(t, total, 24*time.Hour)
	require.Greater(t, total, 20*time.Hour)
}

// EASEL_CALLBACK_WORKERS bounds the callbacks queue of one process.
func TestCallbackWorkers(t *testing.T) {
	t.Parallel()
	queues := jobs.RiverConfig(jobs.Config{}, river.NewWorkers()).Queues
	require.Equal(t, jobs.DefaultCallbackWorkers, queues[jobs.QueueCallbacks].MaxWorkers)
	queues = jobs.RiverConfig(jobs.Config{CallbackWorkers: 3}, river.NewWorkers()).Queues
	require.Equal(t, 3, queues[jobs.QueueCallbacks].MaxWorkers)

	_, err := jobs.NewRiverClient(dbtest.Pool(t), jobs.Config{
		Fal:             fal.NewClient(fal.ClientConfig{QueueURL: "http://127.0.0.1:1", Key: "test-key"}),
		PublicURL:       "https://easel.example.com",
		CallbackWorkers: -1,
	})
	require.ErrorContains(t, err, "Config.CallbackWorkers is negative")
}
