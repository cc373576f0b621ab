package metrics

import (
	"slices"

	"github.com/easelhq/easel/store"
)

// OtherErrorCode is easel_generations_finished_total's error_code for a
// failure whose code is neither one of Easel's own (store.ErrorCodes) nor
// an error type fal documents.
const OtherErrorCode = "other"

// easelFailureCodes are the error codes Easel itself fails a generation
// with: those of store.ErrorCodes that a failed generation may have.
var easelFailureCodes = func() []string {
	var codes []string
	for _, c := range store.ErrorCodes() {
		if slices.Contains(c.Statuses, store.StatusFailed) {
			codes = append(codes, c.Code)
		}
	}
	return codes
}()

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
		return store.ErrorCodeCancelled
	}
	return ErrorCodeLabel(code)
}

type finishedLabel struct{ status, errorCode string }

// finishedLabels are every series of easel_generations_finished_total.
func finishedLabels() []finishedLabel {
	labels := []finishedLabel{
		{string(store.StatusCompleted), ""},
		{string(store.StatusCancelled), store.ErrorCodeCancelled},
		{string(store.StatusFailed), OtherErrorCode},
	}
	for _, code := range failureCodes {
		labels = append(labels, finishedLabel{string(store.StatusFailed), code})
	}
	return labels
}
