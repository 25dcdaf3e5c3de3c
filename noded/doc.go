// Package noded is the node daemon: it discovers what its node has,
// registers with the server, long-polls the jobs the server assigns to it,
// starts each one under a supervisor process (package runner), and reports
// what runs and how jobs ended.
//
// Jobs outlive the daemon: a supervisor is a detached process, and a
// restarted daemon re-adopts the job directories it finds in its state
// directory, so no exit status is lost while the daemon was down. A job is
// never started twice on a node: its directory, once created, marks it as
// taken, and stays until long after the server has acknowledged the result.
package noded
