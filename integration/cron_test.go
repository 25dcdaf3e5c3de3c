package integration

import (
	"strings"
	"testing"
)

// TestCronCLI adds, lists, pauses, resumes and removes recurring jobs
// through the command line; firing is covered by the store's tests.
func TestCronCLI(t *testing.T) {
	c := newCluster(t)
	r := c.gantry("cron", "add", "30 2 * * *", "--tz", "Europe/Paris", "--overlap", "queue", "--", "-n", "2", "-J", "nightly", "--", "sh", "-c", "echo nightly")
	if r.code != 0 || !strings.Contains(r.stdout, "Cron <1> is added to queue <normal>; next slot") {
		t.Fatalf("cron add: %+v", r)
	}
	r = c.gantry("cron", "ls")
	if r.code != 0 || !strings.Contains(r.stdout, "30 2 * * *") || !strings.Contains(r.stdout, "Europe/Paris") ||
		!strings.Contains(r.stdout, "queue") || !strings.Contains(r.stdout, "sh -c echo nightly") {
		t.Fatalf("cron ls: %+v", r)
	}
	if r := c.gantryAs(nobody, "cron", "pause", "1"); r.code == 0 || !strings.Contains(r.stderr, "may not change it") {
		t.Errorf("nobody paused root's cron: %+v", r)
	}
	if r := c.gantryAs(nobody, "cron", "ls"); strings.Contains(r.stdout, "nightly") {
		t.Errorf("nobody sees root's crons: %s", r.stdout)
	}
	if r := c.gantry("cron", "pause", "1"); r.code != 0 || !strings.Contains(r.stdout, "is paused; next slot -") {
		t.Errorf("cron pause: %+v", r)
	}
	if r := c.gantry("cron", "resume", "1"); r.code != 0 || strings.Contains(r.stdout, "next slot -") {
		t.Errorf("cron resume: %+v", r)
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"cron", "add", "61 * * * *", "--", "true"}, `cron spec "61 * * * *"`},
		{[]string{"cron", "add", "@daily", "--tz", "Mars/Base", "--", "true"}, `time zone "Mars/Base"`},
		{[]string{"cron", "add", "@daily", "--overlap", "sometimes", "--", "true"}, `overlap "sometimes"`},
		{[]string{"cron", "add", "@daily", "--", "-M", "lots", "--", "true"}, `"lots"`},
		{[]string{"cron", "add", "@daily"}, "want 'SCHEDULE' -- COMMAND"},
		{[]string{"cron", "rm", "77"}, "cron 77"},
	}
	for _, tt := range bad {
		if r := c.gantry(tt.args...); r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("gantry %v: %+v, want an error with %q", tt.args, r, tt.want)
		}
	}
	if r := c.gantry("cron", "rm", "1"); r.code != 0 {
		t.Errorf("cron rm: %+v", r)
	}
	if r := c.gantry("cron", "ls"); strings.Contains(r.stdout, "nightly") {
		t.Errorf("removed cron still listed: %s", r.stdout)
	}
}
