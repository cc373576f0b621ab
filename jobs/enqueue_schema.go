package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// maxSchemaBytes is the longest schema River takes (river.Config.Schema):
// Postgres's 63 bytes of a channel name, less ".river_leadership".
const maxSchemaBytes = 46

// ErrNoEaselSchema is returned by Enqueue and EnqueuePool when
// EnqueueOpts.Schema names a schema that does not exist, that the role may
// not use, or that holds no Easel tables; the error names the schema.
// Nothing was written, and the caller's transaction is still usable.
var ErrNoEaselSchema = errors.New("no Easel schema to enqueue into")

// checkSchema says what is wrong with EnqueueOpts.Schema, or nil. The job
// is inserted by a River client whose Schema is this one, so that its
// statements name Easel's river_job in full: the same text as an
// application's own River's on the same connection, resolved on another
// search_path, would fail with "cached plan must not change result type".
// River takes only such names.
func checkSchema(schema string) []fal.FieldError {
	if schema == "" {
		return nil
	}
	valid := len(schema) <= maxSchemaBytes && !('0' <= schema[0] && schema[0] <= '9')
	for i := 0; i < len(schema) && valid; i++ {
		c := schema[i]
		valid = c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	if valid {
		return nil
	}
	return []fal.FieldError{{Field: "Schema", Message: fmt.Sprintf(
		"must be a schema name of at most %d ASCII letters, digits and underscores, not starting with a digit, as River takes", maxSchemaBytes)}}
}

// schemaInsertClients holds the River insert client of each schema that
// a job was inserted in, so at most one per Easel schema.
var schemaInsertClients sync.Map // string → func() (*river.Client[pgx.Tx], error)

// schemaInsertClient is insertOnlyClient for Easel's River in schema.
func schemaInsertClient(schema string) (*river.Client[pgx.Tx], error) {
	client, ok := schemaInsertClients.Load(schema)
	if !ok {
		client, _ = schemaInsertClients.LoadOrStore(schema, sync.OnceValues(func() (*river.Client[pgx.Tx], error) {
			return newInsertClient(fetchCooldown, schema)
		}))
	}
	return client.(func() (*river.Client[pgx.Tx], error))()
}

// enterSchemaSQL reads the search_path, then, only once it has found
// Easel's tables in the schema $1 and the role may use it, sets the
// transaction's search_path to that schema alone: a missing schema is
// reported without a failed statement, which would abort the caller's
// transaction, and an application's own tables are never written instead.
// The materialized CTEs are read before the outer projection runs, so the
// path returned is the one before set_config.
const enterSchemaSQL = `
WITH old AS MATERIALIZED (SELECT current_setting('search_path') AS path),
found AS MATERIALIZED (
	SELECT CASE
		WHEN n.oid IS NULL THEN 'missing'
		WHEN NOT has_schema_privilege(n.oid, 'USAGE') THEN 'denied'
		-- generation_images tells Easel's generations from an application's.
		WHEN to_regclass(quote_ident($1::text) || '.generations') IS NULL
			OR to_regclass(quote_ident($1::text) || '.generation_images') IS NULL
			OR to_regclass(quote_ident($1::text) || '.river_job') IS NULL THEN 'empty'
		ELSE 'ok'
	END AS state
	FROM (SELECT) one LEFT JOIN pg_namespace n ON n.nspname = $1::text
)
SELECT old.path, found.state,
	CASE WHEN found.state = 'ok' THEN set_config('search_path', quote_ident($1::text), true) END
FROM old, found`

// enterSchema sets the search_path of db's transaction to schema alone
// (SET LOCAL), after checking that Easel's tables are there, and returns the
// search_path it replaced. It costs one round trip; when Easel is not
// there, it changes nothing and no statement fails.
func enterSchema(ctx context.Context, db store.DBTX, schema string) (previous string, err error) {
	name := pgx.Identifier{schema}.Sanitize()
	var state string
	var set *string
	if err := db.QueryRow(ctx, enterSchemaSQL, schema).Scan(&previous, &state, &set); err != nil {
		return "", fmt.Errorf("enqueue: set search_path to schema %s: %w", name, err)
	}
	switch state {
	case "ok":
		return previous, nil
	case "missing":
		return "", fmt.Errorf("enqueue: %w: schema %s does not exist in this database; EnqueueOpts.Schema names the schema Easel was migrated into, the search_path of easel's DATABASE_URL",
			ErrNoEaselSchema, name)
	case "denied":
		return "", fmt.Errorf("enqueue: %w: the role has no USAGE privilege on schema %s", ErrNoEaselSchema, name)
	default:
		// An unquoted name in search_path is folded to lower case.
		pathValue := schema
		if strings.ToLower(schema) != schema {
			pathValue = name
		}
		return "", fmt.Errorf("enqueue: %w: schema %s has no Easel tables (generations, generation_images, river_job); migrate Easel into it with easel migrate up and search_path=%s in DATABASE_URL",
			ErrNoEaselSchema, name, pathValue)
	}
}

// leaveSchema puts back the search_path that enterSchema replaced in tx.
// A transaction that a failed statement aborted is left as it is: it
// accepts nothing but a rollback, which undoes the search_path too, as
// does a rollback to a savepoint taken before Enqueue.
func leaveSchema(ctx context.Context, tx pgx.Tx, previous string) error {
	if tx.Conn().PgConn().TxStatus() == 'E' {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, previous); err != nil {
		return fmt.Errorf("enqueue: put back search_path '%s': %w", previous, err)
	}
	return nil
}
