package serve

import "github.com/jackc/pgx/v5"

// setApplicationName names the pool's connections in pg_stat_activity after
// the process's role ("easel api"), so that a DBA can tell them from other
// clients', unless DATABASE_URL (or PGAPPNAME) names them.
func setApplicationName(cfg *pgx.ConnConfig, role Role) {
	if cfg.RuntimeParams["application_name"] != "" {
		return
	}
	name := "easel"
	if role != "" {
		name += " " + string(role)
	}
	cfg.RuntimeParams["application_name"] = name
}
