package jobs_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/peterldowns/pgtestdb"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/store"
)

// schemaBundle is a database an application shares with Easel, as the
// README's "A database or schema of its own" sets it up: Easel migrated
// into schema easel, and in public the application's own tables, among
// them one named generations and the river_job of its own River.
type schemaBundle struct {
	ctx context.Context
	// app is the application's pool, on the default search_path
	// ("$user", public): Easel's schema is not on it.
	app *pgxpool.Pool
	// easel is a pool as easel serve's, with search_path=easel.
	easel *pgxpool.Pool
	// appRiver inserts the application's own River jobs.
	appRiver *river.Client[pgx.Tx]
}

func setupSchema(t *testing.T) *schemaBundle {
	t.Helper()
	ctx := context.Background()
	appURL := pgtestdb.Custom(t, dbtest.Config(t), schemaMigrator{}).URL()
	app, err := pgxpool.New(ctx, appURL)
	require.NoError(t, err)
	t.Cleanup(app.Close)
	easelURL, err := withSearchPath(appURL, "easel")
	require.NoError(t, err)
	easel, err := pgxpool.New(ctx, easelURL)
	require.NoError(t, err)
	t.Cleanup(easel.Close)
	appRiver, err := river.NewClient(riverpgxv5.New(nil), &river.Config{})
	require.NoError(t, err)
	return &schemaBundle{ctx: ctx, app: app, easel: easel, appRiver: appRiver}
}

// sendEmailArgs is a job of the application's own River.
type sendEmailArgs struct {
	To string `json:"to"`
}

func (sendEmailArgs) Kind() string { return "send_email" }

// placed counts rows by schema, qualified, whatever the search_path.
type placed struct {
	EaselGenerations, EaselJobs   int
	PublicGenerations, PublicJobs int
}

func (b *schemaBundle) placed(t *testing.T, db store.DBTX) placed {
	t.Helper()
	var p placed
	require.NoError(t, db.QueryRow(b.ctx, `SELECT
		(SELECT count(*) FROM easel.generations), (SELECT count(*) FROM easel.river_job),
		(SELECT count(*) FROM public.generations), (SELECT count(*) FROM public.river_job)`).
		Scan(&p.EaselGenerations, &p.EaselJobs, &p.PublicGenerations, &p.PublicJobs))
	return p
}

func searchPath(t *testing.T, ctx context.Context, db store.DBTX) string {
	t.Helper()
	var path string
	require.NoError(t, db.QueryRow(ctx, `SHOW search_path`).Scan(&path))
	return path
}

// appWrites is what the application writes in its transaction around an
// enqueue: a row of its own generations table and a job of its own River,
// both by unqualified names, on its own search_path.
func (b *schemaBundle) appWrites(t *testing.T, tx pgx.Tx, id int) {
	t.Helper()
	_, err := tx.Exec(b.ctx, `INSERT INTO generations (id, sku) VALUES ($1, 'mug')`, id)
	require.NoError(t, err)
	_, err = b.appRiver.InsertTx(b.ctx, tx, sendEmailArgs{To: "buyer@example.com"}, nil)
	require.NoError(t, err)
}

// An application whose pool has its default search_path enqueues with
// Schema "easel" next to its own writes: Easel's rows land in Easel's
// schema, the application's in public, and its later statements resolve
// names as before; the transaction decides for both.
func TestEnqueueSchemaInAppTransaction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		commit bool
		want   placed
	}{
		{name: "Commit", commit: true, want: placed{EaselGenerations: 1, EaselJobs: 1, PublicGenerations: 2, PublicJobs: 2}},
		{name: "Rollback", commit: false, want: placed{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupSchema(t)
			ctx := b.ctx

			tx, err := b.app.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			before := searchPath(t, ctx, tx)
			require.NotContains(t, before, "easel")
			b.appWrites(t, tx, 1)

			enqueued, err := jobs.Enqueue(ctx, tx, "shop", enqueueTestInput, &jobs.EnqueueOpts{Schema: "easel", Priority: 1})
			require.NoError(t, err)
			require.False(t, enqueued.Replayed)
			require.Equal(t, store.StatusQueued, enqueued.Generation.Status)

			require.Equal(t, before, searchPath(t, ctx, tx), "the caller's search_path is back")
			// The application's next writes still go to its own tables.
			b.appWrites(t, tx, 2)
			require.Equal(t, placed{EaselGenerations: 1, EaselJobs: 1, PublicGenerations: 2, PublicJobs: 2}, b.placed(t, tx))
			require.Equal(t, placed{}, b.placed(t, b.app), "nothing is visible before the commit")

			if tc.commit {
				require.NoError(t, tx.Commit(ctx))
			} else {
				require.NoError(t, tx.Rollback(ctx))
			}
			require.Equal(t, tc.want, b.placed(t, b.app))
			if !tc.commit {
				return
			}
			// Easel, on its own search_path, sees the generation and the
			// job that submits it; the application's River, its own job.
			gen, err := store.GetGeneration(ctx, b.easel, enqueued.Generation.ID)
			require.NoError(t, err)
			require.Equal(t, "shop", gen.Client)
			require.Equal(t, 1, gen.Priority)
			var args string
			require.NoError(t, b.easel.QueryRow(ctx, `SELECT args->>'generation_id' FROM river_job WHERE kind = $1`,
				jobs.SubmitGenerationArgs{}.Kind()).Scan(&args))
			require.Equal(t, gen.ID.String(), args)
			rows, err := b.app.Query(ctx, `SELECT DISTINCT kind FROM public.river_job`)
			require.NoError(t, err)
			kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			require.Equal(t, []string{"send_email"}, kinds)
		})
	}
}

// EnqueuePool honours Schema on the application's pool, and leaves the
// pool's connections on their own search_path.
func TestEnqueuePoolSchema(t *testing.T) {
	t.Parallel()
	b := setupSchema(t)
	before := searchPath(t, b.ctx, b.app)

	enqueued, err := jobs.EnqueuePool(b.ctx, b.app, "shop", enqueueTestInput, &jobs.EnqueueOpts{Schema: "easel", IdempotencyKey: "order-1"})
	require.NoError(t, err)
	require.Equal(t, placed{EaselGenerations: 1, EaselJobs: 1}, b.placed(t, b.app))
	_, err = store.GetGeneration(b.ctx, b.easel, enqueued.Generation.ID)
	require.NoError(t, err)

	replayed, err := jobs.EnqueuePool(b.ctx, b.app, "shop", enqueueTestInput, &jobs.EnqueueOpts{Schema: "easel", IdempotencyKey: "order-1"})
	require.NoError(t, err)
	require.True(t, replayed.Replayed)
	require.Equal(t, enqueued.Generation.ID, replayed.Generation.ID)
	require.Equal(t, placed{EaselGenerations: 1, EaselJobs: 1}, b.placed(t, b.app))

	// Every connection the pool holds, not just one.
	conns := make([]*pgxpool.Conn, 0, b.app.Stat().TotalConns())
	for range b.app.Stat().TotalConns() {
		conn, err := b.app.Acquire(b.ctx)
		require.NoError(t, err)
		conns = append(conns, conn)
		require.Equal(t, before, searchPath(t, b.ctx, conn))
	}
	for _, conn := range conns {
		conn.Release()
	}
}

// Once a generation is in Easel's schema, a second enqueue that inserts
// nothing (a replay, or a refusal) puts the search_path back too, and
// leaves the transaction usable.
func TestEnqueueSchemaSecondEnqueue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		input        string
		opts         jobs.EnqueueOpts
		wantReplayed bool
		wantErr      error
	}{
		{name: "Replay", input: enqueueTestInput, opts: jobs.EnqueueOpts{IdempotencyKey: "order-1"}, wantReplayed: true},
		{name: "IdempotencyConflict", input: testInput, opts: jobs.EnqueueOpts{IdempotencyKey: "order-1"}, wantErr: jobs.ErrIdempotencyConflict},
		{name: "TooManyPending", input: enqueueTestInput, opts: jobs.EnqueueOpts{IdempotencyKey: "order-2", MaxPending: 1}, wantErr: jobs.ErrTooManyPending},
		{name: "ReplayAtTheCap", input: enqueueTestInput, opts: jobs.EnqueueOpts{IdempotencyKey: "order-1", MaxPending: 1}, wantReplayed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupSchema(t)
			ctx := b.ctx
			first, err := enqueueInTx(ctx, b.app, "shop", enqueueTestInput, &jobs.EnqueueOpts{Schema: "easel", IdempotencyKey: "order-1"})
			require.NoError(t, err)

			tx, err := b.app.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			before := searchPath(t, ctx, tx)
			opts := tc.opts
			opts.Schema = "easel"
			enqueued, err := jobs.Enqueue(ctx, tx, "shop", tc.input, &opts)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
				require.Equal(t, tc.wantReplayed, enqueued.Replayed)
				require.Equal(t, first.Generation.ID, enqueued.Generation.ID)
			}
			require.Equal(t, before, searchPath(t, ctx, tx))
			b.appWrites(t, tx, 1)
			require.NoError(t, tx.Commit(ctx))
			require.Equal(t, placed{EaselGenerations: 1, EaselJobs: 1, PublicGenerations: 1, PublicJobs: 1}, b.placed(t, b.app))
		})
	}
}

// A statement of Enqueue's that fails aborts the transaction, as without
// Schema; rolling back to a savepoint taken before Enqueue undoes the
// search_path with the rest, and the application's transaction goes on.
func TestEnqueueSchemaFailedStatementInSavepoint(t *testing.T) {
	t.Parallel()
	b := setupSchema(t)
	ctx := b.ctx
	tx, err := b.app.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `
		CREATE FUNCTION refuse_generation() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'the test refuses generations'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON easel.generations FOR EACH ROW EXECUTE FUNCTION refuse_generation()`)
	require.NoError(t, err)
	before := searchPath(t, ctx, tx)

	savepoint, err := tx.Begin(ctx)
	require.NoError(t, err)
	_, err = jobs.Enqueue(ctx, savepoint, "shop", enqueueTestInput, &jobs.EnqueueOpts{Schema: "easel"})
	require.ErrorContains(t, err, "the test refuses generations")
	require.NoError(t, savepoint.Rollback(ctx))

	require.Equal(t, before, searchPath(t, ctx, tx))
	b.appWrites(t, tx, 1)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, placed{PublicGenerations: 1, PublicJobs: 1}, b.placed(t, b.app))
}

// A bad Schema is refused like the other options, naming the field, before
// any statement.
func TestEnqueueSchemaInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
	}{
		{name: "TooLong", schema: strings.Repeat("e", 47)},
		{name: "NUL", schema: "eas\x00el"},
		{name: "NotUTF8", schema: "easel\xff"},
		{name: "Hyphen", schema: "my-easel"},
		{name: "Quoted", schema: `"easel"`},
		{name: "LeadingDigit", schema: "1easel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupSchema(t)
			opts := &jobs.EnqueueOpts{Schema: tc.schema}
			for _, err := range []error{opts.Validate(), enqueueInAppTx(t, b, opts)} {
				var invalid *fal.ValidationError
				require.ErrorAs(t, err, &invalid)
				require.Len(t, invalid.Fields, 1)
				require.Equal(t, "Schema", invalid.Fields[0].Field)
				require.Equal(t, "must be a schema name of at most 46 ASCII letters, digits and underscores, not starting with a digit, as River takes",
					invalid.Fields[0].Message)
			}
			require.Equal(t, placed{PublicGenerations: 1, PublicJobs: 1}, b.placed(t, b.app), "only the application's rows")
		})
	}
	for _, valid := range []string{strings.Repeat("e", 46), "_Easel_2"} {
		require.NoError(t, (&jobs.EnqueueOpts{Schema: valid}).Validate(), valid)
	}
}

// enqueueInAppTx enqueues with opts in an application transaction that it
// then shows usable and on its own search_path, writes the application's
// rows in, and commits.
func enqueueInAppTx(t *testing.T, b *schemaBundle, opts *jobs.EnqueueOpts) error {
	t.Helper()
	tx, err := b.app.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	before := searchPath(t, b.ctx, tx)
	_, enqueueErr := jobs.Enqueue(b.ctx, tx, "shop", enqueueTestInput, opts)
	require.Equal(t, before, searchPath(t, b.ctx, tx))
	b.appWrites(t, tx, 1)
	require.NoError(t, tx.Commit(b.ctx))
	return enqueueErr
}

// A Schema without Easel's tables is refused with an error naming it, and
// without a failed statement: the application's transaction goes on.
func TestEnqueueSchemaWithoutEasel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		schema      string
		wantMessage string
	}{
		{name: "Missing", schema: "nowhere", wantMessage: `schema "nowhere" does not exist`},
		// The application's own generations and river_job are not Easel's.
		{name: "AppSchema", schema: "public", wantMessage: `schema "public" has no Easel tables`},
		{name: "CaseMatters", schema: "Easel", wantMessage: `schema "Easel" does not exist`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupSchema(t)
			for _, enqueue := range []func() error{
				func() error { return enqueueInAppTx(t, b, &jobs.EnqueueOpts{Schema: tc.schema}) },
				func() error {
					_, err := jobs.EnqueuePool(b.ctx, b.app, "shop", enqueueTestInput, &jobs.EnqueueOpts{Schema: tc.schema})
					return err
				},
			} {
				err := enqueue()
				require.ErrorIs(t, err, jobs.ErrNoEaselSchema)
				require.ErrorContains(t, err, tc.wantMessage)
			}
			require.Equal(t, placed{PublicGenerations: 1, PublicJobs: 1}, b.placed(t, b.app), "only the application's rows")
		})
	}
}

// River's insert notification, sent from the application's transaction,
// goes out on the channel that workers on Easel's search_path listen on,
// as easel serve's do: River's listener (riverpgxv5's Listener.Connect)
// listens on its connection's current_schema() followed by
// ".river_insert", and a notification on any other channel leaves the job
// to River's poll.
func TestEnqueueSchemaWakesEaselWorkers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		enqueue enqueueFunc
	}{
		{name: "Enqueue", enqueue: enqueueInTx},
		{name: "EnqueuePool", enqueue: jobs.EnqueuePool},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupSchema(t)
			conn, err := b.easel.Acquire(b.ctx)
			require.NoError(t, err)
			defer conn.Release()
			var schema string
			require.NoError(t, conn.QueryRow(b.ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema))
			require.Equal(t, "easel", schema)
			_, err = conn.Exec(b.ctx, `LISTEN `+pgx.Identifier{schema + ".river_insert"}.Sanitize())
			require.NoError(t, err)

			// River's inserting client, one per process and schema, sends
			// at most one notification per queue every 10 ms, and other
			// tests' enqueues can take that turn: a job that went
			// unannounced is followed by another.
			deadline := time.Now().Add(30 * time.Second)
			for {
				_, err := tc.enqueue(b.ctx, b.app, "shop", enqueueTestInput, &jobs.EnqueueOpts{Schema: "easel"})
				require.NoError(t, err)
				wait, cancel := context.WithTimeout(b.ctx, time.Second)
				n, err := conn.Conn().WaitForNotification(wait)
				cancel()
				if err == nil {
					require.JSONEq(t, `{"queue": "default"}`, n.Payload)
					return
				}
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.True(t, time.Now().Before(deadline), "no notification on %s.river_insert", schema)
			}
		})
	}
}

// schemaMigrator sets up the template of setupSchema's databases.
type schemaMigrator struct{}

func (schemaMigrator) Hash() (string, error) {
	h := sha256.New()
	h.Write([]byte("easel in schema easel; the application's River and generations in public; v1"))
	err := fs.WalkDir(migrations.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS(), path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func (schemaMigrator) Migrate(ctx context.Context, db *sql.DB, conf pgtestdb.Config) error {
	easelURL, err := withSearchPath(conf.URL(), "easel")
	if err != nil {
		return err
	}
	if err := migrations.Up(ctx, easelURL, nil); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, conf.URL())
	if err != nil {
		return err
	}
	defer pool.Close()
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: "public", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate the application's River: %w", err)
	}
	_, err = db.ExecContext(ctx, `CREATE TABLE public.generations (id bigint PRIMARY KEY, sku text NOT NULL)`)
	return err
}

func withSearchPath(databaseURL, schema string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
