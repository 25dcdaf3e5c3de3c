// Package store keeps the server's state in SQLite (WAL mode) in the state
// directory: jobs, nodes, and their transitions. Every method is one
// transaction, so an acknowledged change survives a crash of the server
// (kill -9) and a half-applied change is never seen.
//
// The store is the only place the server's state lives; the server holds no
// second copy that could disagree with it. Methods that the node protocol
// calls are idempotent: replaying a report changes nothing.
package store
