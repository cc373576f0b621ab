package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// InsertWebSession stores a gallery session for an API key, by the SHA-256
// of its token. It also deletes expired sessions: sign-ins are rare, so this
// is all the cleanup the table needs.
func InsertWebSession(ctx context.Context, db DBTX, tokenHash []byte, apiKeyID uuid.UUID, expiresAt time.Time) error {
	if _, err := db.Exec(ctx, `DELETE FROM web_sessions WHERE expires_at < now()`); err != nil {
		return fmt.Errorf("delete expired web sessions: %w", err)
	}
	_, err := db.Exec(ctx, `INSERT INTO web_sessions (token_hash, api_key_id, expires_at) VALUES ($1, $2, $3)`,
		tokenHash, apiKeyID, expiresAt)
	if err != nil {
		return fmt.Errorf("insert web session for API key %s: %w", apiKeyID, err)
	}
	return nil
}

// GetWebSessionKey returns the API key of the unexpired session whose token
// has SHA-256 tokenHash, or ErrNotFound. A session whose key was revoked is
// not found.
func GetWebSessionKey(ctx context.Context, db DBTX, tokenHash []byte) (*APIKey, error) {
	k, err := scanAPIKey(db.QueryRow(ctx, `
		SELECT k.id, k.name, k.key_prefix, k.created_at, k.last_used_at, k.revoked_at
		FROM web_sessions s JOIN api_keys k ON k.id = s.api_key_id
		WHERE s.token_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL`, tokenHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("web session: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get web session: %w", err)
	}
	return k, nil
}

// DeleteWebSession ends the session whose token has SHA-256 tokenHash. Ending
// a session that does not exist is not an error.
func DeleteWebSession(ctx context.Context, db DBTX, tokenHash []byte) error {
	if _, err := db.Exec(ctx, `DELETE FROM web_sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("delete web session: %w", err)
	}
	return nil
}
