// Package cli is Gantry's command line: the daemons (server, node, dev)
// and the user commands (sub, jobs, job, kill, nodes). Main is the whole
// program behind cmd/gantry; it takes its arguments and output streams as
// parameters so tests can run it in-process.
package cli
