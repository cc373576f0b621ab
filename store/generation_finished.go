package store

// GenerationFinishedChannel is the Postgres notification channel on which a
// trigger on generations announces each generation reaching a terminal
// state, with its id as the payload. Like any NOTIFY it is sent when the
// finishing transaction commits, to listeners in every process.
const GenerationFinishedChannel = "easel_generation_finished"
