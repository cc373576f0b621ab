package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// WorkerMiddleware returns River worker middleware that observes each job
// attempt in easel_job_duration_seconds.
func (m *Metrics) WorkerMiddleware() rivertype.WorkerMiddleware {
	if m == nil {
		return river.WorkerMiddlewareFunc(func(ctx context.Context, _ *rivertype.JobRow, doInner func(context.Context) error) error {
			return doInner(ctx)
		})
	}
	return &workerMiddleware{duration: m.jobDuration}
}

// Results of a job attempt, the values of easel_job_duration_seconds'
// result label.
const (
	jobOK        = "ok"
	jobError     = "error"
	jobCancelled = "cancelled"
	jobSnoozed   = "snoozed"
)

var jobResults = []string{jobOK, jobError, jobCancelled, jobSnoozed}

type workerMiddleware struct {
	river.MiddlewareDefaults
	duration *prometheus.HistogramVec
	// kinds holds the job kinds whose result series exist.
	kinds sync.Map
}

func (w *workerMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if _, seen := w.kinds.LoadOrStore(job.Kind, struct{}{}); !seen {
		// A kind's first error then counts in rate() from 0, as the
		// series New creates do.
		for _, result := range jobResults {
			w.duration.WithLabelValues(job.Kind, result)
		}
	}
	start := time.Now()
	err := doInner(ctx)
	w.duration.WithLabelValues(job.Kind, jobResult(err)).Observe(time.Since(start).Seconds())
	return err
}

func jobResult(err error) string {
	var cancel *rivertype.JobCancelError
	var snooze *rivertype.JobSnoozeError
	switch {
	case err == nil:
		return jobOK
	case errors.As(err, &cancel):
		return jobCancelled
	case errors.As(err, &snooze):
		return jobSnoozed
	default:
		return jobError
	}
}
