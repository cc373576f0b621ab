package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// APIKey is one row of api_keys. The key itself is never stored: only its
// SHA-256 and the first characters, so that people can tell keys apart.
type APIKey struct {
	ID         uuid.UUID
	Name       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// ErrAPIKeyNameTaken is returned by InsertAPIKey when an active key already
// has the name.
var ErrAPIKeyNameTaken = errors.New("an active API key with this name already exists")

const apiKeyColumns = `id, name, key_prefix, created_at, last_used_at, revoked_at`

func scanAPIKey(row scanner) (*APIKey, error) {
	var k APIKey
	if err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	return &k, nil
}

// InsertAPIKey stores a new active key by its hash.
func InsertAPIKey(ctx context.Context, db DBTX, name string, hash []byte, prefix string) (*APIKey, error) {
	k, err := scanAPIKey(db.QueryRow(ctx, `
		INSERT INTO api_keys (id, name, key_hash, key_prefix) VALUES ($1, $2, $3, $4)
		RETURNING `+apiKeyColumns,
		uuid.Must(uuid.NewV7()), name, hash, prefix))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "api_keys_active_name_idx" {
		return nil, fmt.Errorf("insert API key %q: %w", name, ErrAPIKeyNameTaken)
	}
	if err != nil {
		return nil, fmt.Errorf("insert API key %q: %w", name, err)
	}
	return k, nil
}

// GetActiveAPIKey returns the unrevoked key whose SHA-256 is hash, or
// ErrNotFound.
func GetActiveAPIKey(ctx context.Context, db DBTX, hash []byte) (*APIKey, error) {
	k, err := scanAPIKey(db.QueryRow(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("API key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get API key: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, revoked ones included, by name and age.
func ListAPIKeys(ctx context.Context, db DBTX) ([]APIKey, error) {
	rows, err := db.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY name, created_at`)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKey, error) {
		k, err := scanAPIKey(row)
		if err != nil {
			return APIKey{}, err
		}
		return *k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey revokes the active key named name, or returns ErrNotFound.
// The row stays, so the name's history remains explained.
func RevokeAPIKey(ctx context.Context, db DBTX, name string) (*APIKey, error) {
	k, err := scanAPIKey(db.QueryRow(ctx, `
		UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
		RETURNING `+apiKeyColumns, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("API key %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("revoke API key %q: %w", name, err)
	}
	return k, nil
}

// AnyAPIKeys reports whether any key was ever created, revoked ones
// included.
func AnyAPIKeys(ctx context.Context, db DBTX) (bool, error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys)`).Scan(&exists); err != nil {
		return false, fmt.Errorf("look for API keys: %w", err)
	}
	return exists, nil
}

// TouchAPIKey records that key id was used, unless that was already recorded
// within the last interval: last_used_at is a hint for people, not worth a
// write per request.
func TouchAPIKey(ctx context.Context, db DBTX, id uuid.UUID, interval time.Duration) error {
	_, err := db.Exec(ctx, `
		UPDATE api_keys SET last_used_at = now()
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))`,
		id, interval.Seconds())
	if err != nil {
		return fmt.Errorf("touch API key %s: %w", id, err)
	}
	return nil
}
