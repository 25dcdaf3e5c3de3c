// Package client is the Go client of Gantry's /v1 API, used by the command
// line and by node daemons. It reaches the server on a Unix socket (the
// kernel tells the server who we are) or over TCP with a bearer token.
package client
