package falsim

// retireLocked starts req's Config.Retention: it has completed, and no
// webhook delivery of it is under way.
func (s *Sim) retireLocked(req *request) {
	req.retiredAt = s.now()
	s.retired = append(s.retired, req)
}

// sweepLocked forgets the requests retired for Config.Retention or longer:
// from then on status, result and cancel answer 404 NOT_FOUND for them, as
// fal answers for an id it does not know, and their fal_webhook URLs no
// longer count as used. It runs whenever a request is submitted or looked
// up, so no goroutine outlives the simulator, and an expired request is
// never served.
func (s *Sim) sweepLocked() {
	now := s.now()
	n := 0
	// retired is in retiredAt order, the clock being monotonic.
	for _, req := range s.retired {
		if now.Sub(req.retiredAt) < s.cfg.Retention {
			break
		}
		delete(s.requests, req.id)
		if url := req.webhookURL; url != "" {
			if s.webhookURLs[url]--; s.webhookURLs[url] <= 0 {
				delete(s.webhookURLs, url)
			}
		}
		n++
	}
	// Cleared so that the backing array keeps no forgotten request alive.
	clear(s.retired[:n])
	s.retired = s.retired[n:]
}
