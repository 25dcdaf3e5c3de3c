// Package api holds the wire types of Gantry's HTTP/JSON API (served under
// /v1 by the server, spoken by the CLI and the node daemons) and the parsers
// for the values users type: memory sizes and walltimes.
//
// Every type here is plain data with JSON tags; the package does no I/O.
// Field names are part of the API contract: add fields, never rename them.
package api
