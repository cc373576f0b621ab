package store

// UnknownWebhookLockClass is the advisory lock class that serialises storing
// a fal request's deliveries at unknown generations, for tests that hold it.
const UnknownWebhookLockClass = unknownWebhookLockClass
