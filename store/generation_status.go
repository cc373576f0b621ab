package store

import (
	"slices"
	"strings"
)

// Statuses are every Status, in lifecycle order.
var Statuses = []Status{StatusQueued, StatusSubmitted, StatusCompleted, StatusFailed, StatusCancelled}

// ParseStatuses reads status filters as the API and the gallery take them:
// each value one status or several separated by commas. It returns the
// statuses named, each once in the order given, and the names that are no
// status, as given.
func ParseStatuses(values []string) (statuses []Status, unknown []string) {
	for _, v := range values {
		for s := range strings.SplitSeq(v, ",") {
			status := Status(strings.TrimSpace(s))
			switch {
			case !slices.Contains(Statuses, status):
				unknown = append(unknown, s)
			case !slices.Contains(statuses, status):
				statuses = append(statuses, status)
			}
		}
	}
	return statuses, unknown
}

// JoinStatuses lists statuses as a filter names them: comma-separated.
func JoinStatuses(statuses []Status) string {
	names := make([]string, len(statuses))
	for i, s := range statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}
