package jobs

// WithAfterRun has s tell f how many cancels each of its runs claimed.
func (s *FalCancelSender) WithAfterRun(f func(claimed int)) *FalCancelSender {
	s.afterRun = f
	return s
}
