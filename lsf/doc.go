// Package lsf holds the LSF and Slurm compatibility layer's pure parts:
// parsers for bsub's resource requirement (-R), GPU (-gpu) and job array
// (-J name[...]) languages, bsub's option set, #BSUB and #SBATCH script
// directives with the translation of common sbatch options, and the
// LSF and Slurm environment a job sees. It does no I/O and talks to no
// server; package cli builds the commands (bsub, bjobs, ...) on it.
package lsf
