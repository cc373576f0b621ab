package metrics

import (
	"slices"

	"github.com/easelhq/easel/store"
)

// OtherErrorCode is easel_generations_finished_total's error_code for a
// failure whose code is not in failureCodes.
const OtherErrorCode = "other"

// easelFailureCodes are the error codes Easel itself fails a generation
// with. jobs and internal/serve spell them out (they import metrics, not
// the other way round); README.md's "Error codes" table explains each, and
// tests keep the three in step: jobs' TestREADMEErrorCodes (what Easel
// writes against the table) and this package's
// TestREADMEFailureCodesHaveSeries (the table's failures against this
// list).
var easelFailureCodes = []string{
	"timeout", "result_unavailable", "job_lost", "submit_failed",
	"fal_auth", "fal_rejected", "fal_request_timeout", "fal_rate_limited", "fal_unavailable", "fal_unreachable",
	"invalid_request", "invalid_output", "fal_error",
	// easel serve's in-process simulator restarted under its generations
	// (internal/serve's ErrorCodeSimulatorRestarted).
	"simulator_restarted",
}

// falErrorTypes are the error types fal documents, which a failed result
// passes through as its generation's error code.
var falErrorTypes = []string{
	// fal's model errors (HTTP 4xx/5xx from the app, the detail's type).
	"internal_server_error", "generation_timeout", "downstream_service_error", "downstream_service_unavailable",
	"content_policy_violation", "no_media_generated", "image_too_small", "image_too_large", "image_load_error",
	"file_download_error", "face_detection_error", "file_too_large", "feature_not_supported",
	// fal's infrastructure errors (error_type).
	"request_timeout", "startup_timeout", "runner_scheduling_failure", "runner_connection_timeout",
	"runner_disconnected", "runner_connection_refused", "runner_connection_error", "runner_incomplete_response",
	"runner_server_error", "client_disconnected", "bad_request", "internal_error",
}

// failureCodes are the error codes easel_generations_finished_total names
// for failed generations; any other code counts as OtherErrorCode. fal's
// error types are free-form (its validation types carry field names and
// bounds), so the label is bounded to Easel's own and the ones fal
// documents, whatever fal sends, and each keeps a series from the start.
var failureCodes = slices.Concat(easelFailureCodes, falErrorTypes)

// cancelledErrorCode is the error code store.Cancel records.
const cancelledErrorCode = "cancelled"

// ErrorCodeLabel is the error_code under which easel_generations_finished_total
// counts a generation failed with code: code itself when it is a known
// one, else OtherErrorCode.
func ErrorCodeLabel(code string) string {
	if slices.Contains(failureCodes, code) {
		return code
	}
	return OtherErrorCode
}

// finishedErrorCode is the error_code label of a generation finished in
// status with code: none for a completed one, which keeps no code, and
// "cancelled" for a cancelled one, as the row says.
func finishedErrorCode(status store.Status, code string) string {
	switch status {
	case store.StatusCompleted:
		return ""
	case store.StatusCancelled:
		return cancelledErrorCode
	}
	return ErrorCodeLabel(code)
}

type finishedLabel struct{ status, errorCode string }

// finishedLabels are every series of easel_generations_finished_total.
func finishedLabels() []finishedLabel {
	labels := []finishedLabel{
		{string(store.StatusCompleted), ""},
		{string(store.StatusCancelled), cancelledErrorCode},
		{string(store.StatusFailed), OtherErrorCode},
	}
	for _, code := range failureCodes {
		labels = append(labels, finishedLabel{string(store.StatusFailed), code})
	}
	return labels
}
