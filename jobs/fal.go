package jobs

import "github.com/easelhq/easel/fal"

// Fal is fal's queue API as the jobs call it: Config.Fal, the client the
// workers and the canceller use. It is fal.Queue under the name the jobs'
// fields and wrappers were written against, not an interface of its own.
type Fal = fal.Queue
