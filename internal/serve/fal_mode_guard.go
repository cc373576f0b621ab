package serve

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/store"
)

// The processes sharing a database share its queue: River hands any
// generation to whichever process's workers fetch it first. An easel serve
// without FAL_KEY sharing one with easel serve on fal would submit fal's
// users' generations to its simulator, which completes them with fake
// images, silently; and the other way round, fal would bill the
// simulator's. Each kind holds a lock saying it runs, and refuses to start
// while the other kind's is held (store.FalModeRunning).

// falModeOf is which kind of process cfg, as read from the environment,
// runs, or 0 for neither: a fal on loopback (`easel sim`), or over plain
// http (`easel sim` under Docker Compose, http://sim:9090), is a simulator
// setup that shares a database with anything, and a process without
// FAL_KEY and without workers submits nothing. With FAL_KEY, every role
// counts: the workers of a simulated process would also take what an API
// process enqueues.
func falModeOf(cfg Config) store.FalMode {
	switch {
	case cfg.FalKey == "" && cfg.Role.runsWorkers():
		return store.FalModeSimulator
	case cfg.FalKey != "" && falURL(cfg.FalQueueURL):
		return store.FalModeFal
	}
	return 0
}

// falURL reports whether raw may be fal.ai's: https, off loopback. fal
// serves only https; a simulator is reached over http.
func falURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && strings.EqualFold(u.Scheme, "https") && !loopbackURL(raw)
}

// guardFalMode takes mode's lock on session, then refuses to start if a
// process of the other mode runs on the database and, for the simulator,
// if the database has a generation submitted to fal. It comes before this
// process changes a generation or submits anything. Taking
// the lock first means that of two processes of each mode starting
// together, at least one refuses. Each time the session is lost and the
// lock taken again, the other mode's is checked again: a process of it
// that started meanwhile stops this one.
func guardFalMode(ctx context.Context, session *sessionLease, mode store.FalMode) error {
	if mode == 0 {
		return nil
	}
	other, refusal := store.FalModeSimulator, errSimulatorRunning
	lock := leaseLock{
		take:    func(ctx context.Context, conn *pgx.Conn) error { return store.HoldFalMode(ctx, conn, mode) },
		release: func(ctx context.Context, conn *pgx.Conn) error { return store.ReleaseFalMode(ctx, conn, mode) },
	}
	if mode == store.FalModeSimulator {
		other, refusal = store.FalModeFal, errFalRunning
		lock.name = "the lock saying that an easel serve without FAL_KEY runs"
		lock.lost = "an easel serve with FAL_KEY may start on this database, and this process's workers would submit its generations to the simulator; " +
			"if one runs once the lock is taken again, this process stops"
	} else {
		lock.name = "the lock saying that an easel serve with FAL_KEY runs"
		lock.lost = "an easel serve without FAL_KEY may start on this database, and its workers would submit this process's generations to its simulator; " +
			"if one runs once the lock is taken again, this process stops"
	}
	lock.recheck = func(ctx context.Context, conn *pgx.Conn) error {
		running, err := store.FalModeRunning(ctx, conn, other)
		switch {
		case err != nil:
			return err
		case running:
			return stopError{fmt.Errorf("took %s again, its database session having been lost, and found that %w", lock.name, refusal)}
		}
		return nil
	}
	if err := session.take(ctx, lock); err != nil {
		return err
	}
	running, err := store.FalModeRunning(ctx, session.conn, other)
	switch {
	case err != nil:
		return err
	case running:
		return refusal
	case mode == store.FalModeFal:
		return nil
	}
	id, submittedTo, found, err := store.FirstFalSubmission(ctx, session.conn)
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("this database is used with fal.ai (generation %s was submitted to %s): easel serve without FAL_KEY would submit the generations queued in it "+
			"to its in-process simulator, whose images are fake; set FAL_KEY, or point DATABASE_URL at another database", id, origin(submittedTo))
	}
	return nil
}

var (
	// errFalRunning is why a process of store.FalModeSimulator must not
	// run: one of store.FalModeFal does.
	errFalRunning = errors.New("an easel serve with FAL_KEY is running on this database: easel serve without FAL_KEY would submit the generations queued in it to its in-process simulator, " +
		"whose images are fake; set FAL_KEY, or point DATABASE_URL at another database")
	// errSimulatorRunning is why a process of store.FalModeFal must not
	// run: one of store.FalModeSimulator does.
	errSimulatorRunning = errors.New("an easel serve without FAL_KEY is running on this database: its workers would submit this process's generations to its in-process simulator, " +
		"whose images are fake; stop that process, or point DATABASE_URL at another database")
)

// origin is rawURL's scheme and host, without what could be a secret
// (user information) or is only noise (the request's path).
func origin(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "an address that is not a URL"
	}
	return u.Scheme + "://" + u.Host
}
