// Package fakeclock is a manual clock for tests of code that waits: the
// emulator's security-domain operations that stay InProgress for minutes,
// throttling windows, and the uploader's polling. A test gives the same
// Clock to both sides, and the uploader's sleeps advance it, so nothing
// depends on wall time.
package fakeclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a clock that moves only when told to. It is safe for concurrent
// use.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

// New returns a clock set to t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Sleep advances the clock by d at once, as if d had passed, unless ctx is
// already done. It records d (see Slept).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	return nil
}

// Slept returns the durations passed to Sleep, in order.
func (c *Clock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}
