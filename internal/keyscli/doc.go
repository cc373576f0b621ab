// Package keyscli is `easel keys`: it creates, lists and revokes the API
// keys of the calling services, and prints a client's callback secret.
//
// The commands that read the database first make sure it has Easel's
// schema at this binary's version, and change no schema but a fresh one:
// see checkSchema. cmd/easel parses the words and reads the environment;
// this package does the rest.
package keyscli
