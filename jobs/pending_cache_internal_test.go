package jobs

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
)

// A process serving ever new clients keeps entries only for those counted
// within about a TTL.
func TestPendingCacheForgetsIdleClients(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	c := &PendingCache{Now: clock.Now}
	const limit, perTTL = 10, 100

	largest := 0
	for round := range 100 {
		for i := range perTTL {
			_, _, ticket := c.admit(fmt.Sprintf("client-%d-%d", round, i), limit)
			require.NotNil(t, ticket, "a new client is counted")
			c.counted(ticket, limit, 0, true)
			largest = max(largest, len(c.clients))
		}
		clock.Advance(PendingCacheTTL)
	}
	require.LessOrEqual(t, largest, 2*perTTL)
}

// An estimate is only as good as the latest count: a count that started
// earlier but ended later must not replace it.
func TestPendingCacheKeepsLatestCount(t *testing.T) {
	t.Parallel()
	c := &PendingCache{Now: clocktest.New().Now}
	const limit = 10

	_, _, slow := c.admit("a", limit)
	_, _, fast := c.admit("a", limit)
	require.NotNil(t, slow)
	require.NotNil(t, fast)
	c.counted(fast, limit, limit-1, true) // and enqueues one: 10
	c.counted(slow, limit, 0, true)       // saw none of them, enqueues one: 11

	_, _, ticket := c.admit("a", limit)
	require.NotNil(t, ticket, "at its cap by its own enqueues, the client is counted again")
}

// A count that failed decides nothing: the next enqueue counts.
func TestPendingCacheFailedCount(t *testing.T) {
	t.Parallel()
	c := &PendingCache{Now: clocktest.New().Now}

	_, _, ticket := c.admit("a", 10)
	require.NotNil(t, ticket)
	c.counted(ticket, 10, 0, false)
	_, _, ticket = c.admit("a", 10)
	require.NotNil(t, ticket)
	c.counted(ticket, 10, 0, true)
	n, room, ticket := c.admit("a", 10)
	require.Nil(t, ticket)
	require.True(t, room)
	require.Equal(t, 1, n, "the count and the enqueue it let through")
}
