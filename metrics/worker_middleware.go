package metrics

import (
	"context"
	"errors"
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

type workerMiddleware struct {
	river.MiddlewareDefaults
	duration *prometheus.HistogramVec
}

func (w *workerMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
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
		return "ok"
	case errors.As(err, &cancel):
		return "cancelled"
	case errors.As(err, &snooze):
		return "snoozed"
	default:
		return "error"
	}
}
