package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// A submitted generation's page reloads by itself when fal's status of
// the request or its queue position changes, which may be all that
// changes for minutes while fal holds it; fal's same answer again does
// not reload it.
func TestBrowserReloadsOnFalStatus(t *testing.T) {
	t.Parallel()
	b := setupBrowser(t)

	// Scheduled an hour ahead, so that no worker submits it: the test
	// records its submission and fal's answers itself.
	id := uuid.MustParse(b.enqueue(t, map[string]any{"prompt": "slow at fal", "run_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}))
	_, err := store.MarkSubmitting(b.ctx, b.db, id)
	require.NoError(t, err)
	requestID := "req-" + id.String()[:8]
	_, err = store.RecordSubmitted(b.ctx, b.db, id, store.Submission{RequestID: requestID})
	require.NoError(t, err)
	b.step(t,
		chromedp.Navigate(b.baseURL+"/generations/"+id.String()),
		chromedp.WaitVisible(chromedp.CSS("#status.status-submitted")),
	)

	// answered records fal's answer, waits until the page's timeline shows
	// want, and checks that the page reloaded by itself to show it.
	answered := func(status string, position *int, want string) {
		t.Helper()
		evaluate[bool](t, b, `(() => { window.easelMark = true; return true; })()`)
		written, err := store.RecordFalStatus(b.ctx, b.db, id, requestID, status, position)
		require.NoError(t, err)
		require.True(t, written)
		b.step(t, chromedp.WaitVisible(chromedp.Search(`//ol[@class="timeline"]//span[contains(., "`+want+`")]`)))
		require.True(t, evaluate[bool](t, b, `window.easelMark === undefined`), "shown without a reload")
	}
	three, one := 3, 1
	answered("IN_QUEUE", &three, "IN_QUEUE, 3 request(s) ahead")
	answered("IN_QUEUE", &one, "IN_QUEUE, 1 request(s) ahead")
	answered("IN_PROGRESS", nil, "IN_PROGRESS · ")

	// The same answer again changes only when it was given: no reload.
	evaluate[bool](t, b, `(() => { window.easelMark = true; return true; })()`)
	written, err := store.RecordFalStatus(b.ctx, b.db, id, requestID, "IN_PROGRESS", nil)
	require.NoError(t, err)
	require.True(t, written)
	polled := evaluate[int](t, b, statePolls)
	b.step(t, chromedp.Poll[chromedp.Void](statePolls+` >= `+jsInt(polled+2)))
	require.True(t, evaluate[bool](t, b, `window.easelMark === true`), "the page reloaded for fal's same answer")
}
