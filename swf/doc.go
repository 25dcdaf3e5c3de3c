// Package swf reads the Standard Workload Format of the Parallel Workloads
// Archive (Feitelson et al.): one job per line, 18 whitespace-separated
// numeric fields, -1 for a missing value, and header comments (lines
// starting with ';') such as "; MaxProcs: 1024". Files may be gzipped;
// the reader recognises gzip by its magic number, not by the file name.
//
// The reader only parses; the conventions that turn a record into a
// simulated job (which processors, which run time, what to skip) belong to
// the replayer in package sim.
package swf
