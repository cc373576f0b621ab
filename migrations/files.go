package migrations

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/golang-migrate/migrate/v4/source/iofs"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() fs.FS { return files }

// Latest is the version of the newest embedded migration.
func Latest() (uint, error) { return latestOf(files) }

// latestOf is the version of the newest migration in fsys.
func latestOf(fsys fs.FS) (uint, error) {
	src, err := iofs.New(fsys, ".")
	if err != nil {
		return 0, fmt.Errorf("read embedded migrations: %w", err)
	}
	defer src.Close()
	v, err := src.First()
	if err != nil {
		return 0, fmt.Errorf("read embedded migrations: %w", err)
	}
	for {
		next, err := src.Next(v)
		if errors.Is(err, fs.ErrNotExist) {
			return v, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read embedded migrations: %w", err)
		}
		v = next
	}
}

// migrationFileIn names the file of fsys of version in direction ("up" or
// "down"), or describes it when there is none.
func migrationFileIn(fsys fs.FS, version uint, direction string) string {
	entries, err := fs.ReadDir(fsys, ".")
	if err == nil {
		for _, e := range entries {
			prefix, _, _ := strings.Cut(e.Name(), "_")
			if v, err := strconv.ParseUint(prefix, 10, 64); err == nil && uint(v) == version && strings.HasSuffix(e.Name(), "."+direction+".sql") {
				return "migration " + e.Name()
			}
		}
	}
	return fmt.Sprintf("migration %d %s", version, direction)
}
