package migrations

// EnsureDatabaseVia exposes ensureDatabase, whose maintenance connection
// tests redirect.
var EnsureDatabaseVia = ensureDatabase
