package api

import "github.com/google/uuid"

// OnWaiting makes h call f each time a ?wait request starts waiting, so
// tests change a generation only once a request is known to wait for it.
func OnWaiting(h *Handler, f func(id uuid.UUID)) { h.wait.onWaiting = f }

// ParseWait exposes parseWait, whose cap a request could only show by
// taking a minute.
var ParseWait = parseWait
