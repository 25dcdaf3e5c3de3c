package recur

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // zones work on hosts without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// parser accepts the standard five fields (minute hour day-of-month month
// day-of-week) and the descriptors @yearly, @monthly, @weekly, @daily,
// @hourly.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed cron expression in a time zone.
type Schedule struct {
	spec  string
	loc   *time.Location
	sched cron.Schedule
}

// Parse parses a five-field cron expression (or a descriptor such as
// @daily) for the IANA time zone tz ("" means UTC). @every is refused: a
// batch schedule is anchored to the clock.
func Parse(spec, tz string) (*Schedule, error) {
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("time zone %q: %w", tz, err)
		}
		loc = l
	}
	s := strings.TrimSpace(spec)
	if strings.HasPrefix(s, "@every") || strings.Contains(s, "TZ=") {
		return nil, fmt.Errorf("cron spec %q: @every and TZ= are not supported (give the zone with --tz)", spec)
	}
	sc, err := parser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("cron spec %q: %w", spec, err)
	}
	// The expression is evaluated on naive wall-clock time (the zone's
	// local time written as if it were UTC, where there is no daylight
	// saving): each wall-clock slot exists exactly once there. toInstant
	// then maps a slot back to a real instant in the zone.
	if sch, ok := sc.(*cron.SpecSchedule); ok {
		sch.Location = time.UTC
	}
	return &Schedule{spec: s, loc: loc, sched: sc}, nil
}

// String returns the expression.
func (s *Schedule) String() string { return s.spec }

// Location returns the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Slot names the wall-clock slot of t in the schedule's zone.
func (s *Schedule) Slot(t time.Time) string {
	return t.In(s.loc).Format("2006-01-02 15:04")
}

// Next returns the first fire time after t whose slot differs from
// lastSlot (the slot fired last, "" if none), and that slot. It returns
// the zero time when the expression never fires again (within five years,
// robfig/cron's search horizon).
func (s *Schedule) Next(t time.Time, lastSlot string) (time.Time, string) {
	naive := wallAsUTC(t.In(s.loc))
	for range 8 {
		slot := s.sched.Next(naive)
		if slot.IsZero() {
			return time.Time{}, ""
		}
		naive = slot
		key := slot.Format("2006-01-02 15:04")
		if key == lastSlot {
			continue
		}
		if n := s.toInstant(slot, t); n.After(t) {
			return n, key
		}
	}
	return time.Time{}, ""
}

// wallAsUTC writes t's wall-clock reading as a UTC time.
func wallAsUTC(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// toInstant maps a naive wall-clock slot to a real instant in the zone. A
// slot inside a spring-forward gap maps to the same distance after the
// gap's start (02:30 becomes 03:30); a slot in a fall-back overlap maps to
// its first occurrence, or to its second when the first is not after t.
func (s *Schedule) toInstant(slot, t time.Time) time.Time {
	n := time.Date(slot.Year(), slot.Month(), slot.Day(), slot.Hour(), slot.Minute(), 0, 0, s.loc)
	if wallAsUTC(n).Before(slot) { // inside a gap, normalized backwards
		_, before := n.Zone()
		_, after := n.Add(3 * time.Hour).Zone()
		n = n.Add(time.Duration(after-before) * time.Second)
	}
	if !n.After(t) {
		// Fall-back overlap: the same wall time one offset later.
		_, before := n.Zone()
		_, after := n.Add(3 * time.Hour).Zone()
		if later := n.Add(time.Duration(before-after) * time.Second); before > after && wallAsUTC(later.In(s.loc)).Equal(wallAsUTC(n.In(s.loc))) {
			n = later
		}
	}
	return n
}
