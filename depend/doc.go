// Package depend parses and evaluates job dependency expressions in LSF's
// language (bsub -w):
//
//	done(42) && (exit(43, >= 2) || ended("prep*")) && !started(train)
//
// Conditions are done, ended, exit (optionally with a comparison of the
// exit code: ==, !=, <, <=, >, >=), and started; each names a job by id
// (an array element as id[index] is reserved for arrays) or by name
// (quoted or bare, with * as a wildcard), and a bare id or name means
// done(). Operators are &&, ||, ! and parentheses, with ! binding
// tightest and && tighter than ||.
//
// Evaluation is three-valued, because the scheduler must know not only
// whether a job may start now but also whether it never can: done(X) on
// a failed X can never become true, and a job waiting on it would wait
// forever. Evaluate answers with the current truth and whether it is
// final.
package depend
