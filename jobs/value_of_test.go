package jobs_test

// valueOf is *p, or the zero value for nil: a generation's optional fields
// in a failure message.
func valueOf[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
