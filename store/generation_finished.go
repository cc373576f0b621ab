package store

// GenerationFinishedChannel is the Postgres notification channel on which
// Easel announces generations reaching a terminal state: the code that
// finishes them publishes their ids once its transaction has committed,
// several to a notification, comma-separated (notify.Publisher). An
// announcement is a wake-up, not a record: a process that dies between the
// commit and the send never sends it, so listeners must also look again
// now and then.
const GenerationFinishedChannel = "easel_generation_finished"
