// The job shim, in C, run from an ELF constructor: when this binary is
// started as "<exe> job-shim [--tasks=N:FIRST] /abs/cmd args...", it does
// the shim's whole work here and exits, before the Go runtime starts (as
// runc's nsexec does for "init"). A Go runtime start of the large gantry
// binary costs several milliseconds, paid for every job; this costs
// almost nothing. See doc.go for what the shim does.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define STATUS_FD 3
#define MAX_TASKS 1024

extern char **environ;

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH};

static void say(const char *msg, const char *detail)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "gantry job-shim: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
	if (n > 0)
		(void)!write(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

// start forks task i (of first rank first, -1: no ranks) and execs argv
// in it with the signal mask old; it returns the pid, or -1.
static pid_t start(char **argv, int i, int first, int foreground, const sigset_t *old)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	if (first >= 0) {
		char v[16];
		snprintf(v, sizeof v, "%d", i);
		setenv("LOCAL_RANK", v, 1);
		setenv("SLURM_LOCALID", v, 1);
		snprintf(v, sizeof v, "%d", first + i);
		setenv("RANK", v, 1);
		setenv("SLURM_PROCID", v, 1);
	}
	if (foreground) {
		// An interactive job: the command is the terminal's
		// foreground process group, so ^C and job control reach it
		// (the shim, the session leader, stays in the background).
		// SIGTTOU is blocked meanwhile: tcsetpgrp from what is still a
		// background group would stop us otherwise.
		sigset_t ttou;
		sigemptyset(&ttou);
		sigaddset(&ttou, SIGTTOU);
		sigprocmask(SIG_BLOCK, &ttou, NULL);
		setpgid(0, 0);
		tcsetpgrp(0, getpid());
	}
	sigprocmask(SIG_SETMASK, old, NULL);
	execve(argv[0], argv, environ);
	say(argv[0], strerror(errno));
	_exit(127);
}

static int shim_main(int argc, char **argv)
{
	int n = 1, first = -1;
	if (argc > 0 && strncmp(argv[0], "--tasks=", 8) == 0) {
		char end;
		if (sscanf(argv[0] + 8, "%d:%d%c", &n, &first, &end) != 2 || n < 1 || n > MAX_TASKS || first < 0) {
			say("bad --tasks= argument, want N:FIRST", argv[0]);
			return 127;
		}
		argc--;
		argv++;
	}
	if (argc == 0) {
		say("no command", NULL);
		return 127;
	}
	// The status descriptor is the shim's alone.
	int status_ok = fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) == 0;

	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t k = 0; k < sizeof forwarded / sizeof forwarded[0]; k++)
		sigaddset(&set, forwarded[k]);
	sigprocmask(SIG_BLOCK, &set, &old);

	pid_t *live = calloc((size_t)n, sizeof *live);
	if (!live) {
		say("out of memory", NULL);
		return 127;
	}
	int foreground = n == 1 && isatty(0);
	for (int i = 0; i < n; i++) {
		live[i] = start(argv, i, first, foreground, &old);
		if (live[i] < 0) {
			say("fork", strerror(errno));
			for (int k = 0; k < i; k++)
				kill(live[k], SIGKILL);
			return 127;
		}
	}
	int left = n, code = 0;
	char report[32] = "";
	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&set, &info);
		if (sig < 0)
			continue; // EINTR
		if (sig != SIGCHLD) {
			for (int i = 0; i < n; i++)
				if (live[i] > 0)
					kill(live[i], sig);
			continue;
		}
		// Reap everything that has exited: the tasks and any orphan
		// reparented to us.
		for (;;) {
			int ws;
			pid_t pid = waitpid(-1, &ws, WNOHANG);
			if (pid <= 0)
				break;
			int i;
			for (i = 0; i < n && live[i] != pid; i++)
				;
			if (i == n)
				continue;
			live[i] = 0;
			left--;
			int c;
			char what[32];
			if (WIFSIGNALED(ws)) {
				c = 128 + WTERMSIG(ws);
				snprintf(what, sizeof what, "signal %d", WTERMSIG(ws));
			} else {
				c = WEXITSTATUS(ws);
				snprintf(what, sizeof what, "exit %d", c);
			}
			if (c != 0 && report[0] == '\0') {
				// The first failure ends the job's other tasks.
				strcpy(report, what);
				code = c;
				for (int k = 0; k < n; k++)
					if (live[k] > 0)
						kill(live[k], SIGTERM);
			}
			if (left == 0) {
				if (report[0] == '\0')
					strcpy(report, what);
				if (status_ok) {
					(void)!write(STATUS_FD, report, strlen(report));
					close(STATUS_FD);
				}
				return code;
			}
		}
	}
}

__attribute__((constructor)) static void gantry_job_shim(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc < 2 || strcmp(argv[1], "job-shim") != 0)
		return;
	_exit(shim_main(argc - 2, argv + 2));
}
