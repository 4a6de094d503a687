package vfs

// Time is nanoseconds since the model's epoch.
type Time int64

// Tick is the coarse clock granularity: one jiffy at HZ=250, Debian's
// default (Linux: kernel/time/timekeeping.c:ktime_get_coarse_real_ts64).
const Tick Time = 4_000_000

// Clock is the simulated wall clock. Coarse returns the last tick, Fine
// the exact time.
type Clock struct{ now Time }

// NewClock starts at an arbitrary but fixed, tick-aligned instant.
func NewClock() *Clock { return &Clock{now: 1_700_000_000 * 1_000_000_000} }

// Now is the fine-grained time.
func (c *Clock) Now() Time { return c.now }

// Coarse is the time truncated to the tick, as current_time() gives.
func (c *Clock) Coarse() Time { return c.now - c.now%Tick }

// Advance moves the clock forward by d (d <= 0 is a no-op).
func (c *Clock) Advance(d Time) {
	if d > 0 {
		c.now += d
	}
}
