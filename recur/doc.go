// Package recur computes the fire times of recurring jobs from cron
// expressions (parsed by github.com/robfig/cron/v3) in a time zone, with
// the guarantees a batch scheduler needs across daylight-saving changes:
//
//   - A slot is a wall-clock time in the schedule's zone. Each slot fires
//     at most once: when clocks fall back and 01:30 happens twice, only the
//     first 01:30 fires.
//   - A slot that does not exist (clocks spring forward over 02:30) fires
//     at the first instant after the gap, the way Vixie cron runs jobs of
//     a skipped hour; it is still one slot.
//
// The package is pure: Next is a function of its arguments.
package recur
