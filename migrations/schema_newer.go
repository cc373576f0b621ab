package migrations

import (
	"errors"
	"fmt"
)

// ErrSchemaNewer means the database's schema is newer than this binary's
// newest migration: a newer Easel migrated it, and this one may not
// understand it.
var ErrSchemaNewer = errors.New("schema is newer than this easel binary")

// SchemaNewerError explains that the database's schema, at version, is newer
// than latest, this binary's newest migration, and how to roll back to this
// binary; it wraps ErrSchemaNewer.
func SchemaNewerError(version, latest uint) error {
	return schemaNewerError(version, latest, "")
}

// schemaNewerError is SchemaNewerError saying why, when why is not empty,
// this binary may not run on the schema. Only the newer binary has the down
// migrations from version to latest.
func schemaNewerError(version, latest uint, why string) error {
	if why != "" {
		why = "; " + why
	}
	return fmt.Errorf("%w: the database is at schema version %d, this binary knows versions up to %d%s. "+
		"Run the easel that migrated it, or a newer one; or, to roll back to this binary, stop the newer easel processes and run `easel migrate down %d` with the newer easel first",
		ErrSchemaNewer, version, latest, why, version-latest)
}
