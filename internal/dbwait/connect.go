package dbwait

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Connect is Wait.For's connect for cfg's database: it connects and closes
// the connection, as long as its context allows.
func Connect(cfg *pgx.ConnConfig) func(context.Context) error {
	return func(ctx context.Context) error {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
}
