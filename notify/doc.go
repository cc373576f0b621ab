// Package notify carries wake-ups between processes over Postgres
// LISTEN/NOTIFY. Easel announces on store.GenerationFinishedChannel the ids
// of the generations it finishes, and answers GET
// /v1/generations/{id}?wait=... as soon as the one asked for is announced.
//
// A service that runs Easel's packages in its own binary makes one
// Publisher and one Listener on that channel per process, as easel serve
// does, and hands them to the components: the Publisher to
// jobs.Config.Publisher, jobs.Canceller.WithPublisher and
// webhooks.Receiver.WithPublisher, the Listener to
// api.Handler.WithListener, whose ?wait answers at once without one.
//
// A Listener holds one connection of its own, outside the pool, however
// many subscribers wait on it: a thousand long-polls cost one connection
// rather than a thousand, and none of the pool's. A process that made a
// Listener per request would open a connection per request instead.
//
// A Publisher gathers the keys published within a few milliseconds into one
// notification, comma-separated and split only where Postgres's payload
// limit requires, and sends it from a statement of its own, so that no
// committing transaction waits on it. Each NOTIFY takes a database-wide
// lock and wakes every listening backend of the database: one Publisher
// shared by a process's components sends at most once per few milliseconds
// however much they finish. A component given none makes its
// own, which works but batches apart. Keys are published once the
// transactions they announce have committed, so that a woken reader sees
// what it was woken for.
//
// A notification is a wake-up, never a fact, and may be lost: a send that
// fails is logged and dropped, a process that dies between a commit and its
// send never sends it, and what is sent while a Listener is reconnecting
// never reaches it. A Listener covers only that last loss, by waking all
// its subscribers on every (re)connection, and once more when it stops,
// since no wake-up will come after. The other losses it cannot see, so
// every reader must also look at the state itself again now and then: what
// a lost wake-up costs is bounded by how often it does. The API's ?wait
// re-reads its generation every 2 seconds.
package notify
