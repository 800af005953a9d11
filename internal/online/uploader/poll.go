package uploader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// Polling of security-domain operations.
//
// After POST /securitydomain/download or /securitydomain/upload the service
// answers InProgress for many minutes (recorded in 2025: a download at least
// 7 minutes over 18 polls, an upload 21 polls), without Retry-After. The
// uploader polls for a time budget (Config.Timeout, 30 minutes by default),
// not a number of attempts; it honours Retry-After when the service sends
// one (under throttling it does), and polls the Azure-AsyncOperation URL the
// service names when that URL is on the HSM's own host. When the budget runs
// out the operation is still in progress, not failed: ErrStillInProgress,
// and Client.SDStatus looks again later.

// Status values of a security-domain operation. "Succeeded" was said by
// older services and is taken as Success.
const (
	StatusSuccess    = "Success"
	StatusInProgress = "InProgress"
	StatusFailed     = "Failed"
)

// Defaults of the polling.
const (
	DefaultTimeout = 30 * time.Minute
	// DefaultPollInterval is the longest wait between two polls without a
	// Retry-After; the first polls come sooner (see pollDelay).
	DefaultPollInterval = 30 * time.Second
	// maxRetryAfter bounds a Retry-After the uploader honours.
	maxRetryAfter = 5 * time.Minute
)

// ErrStillInProgress is returned (wrapped, with the last Status) when a
// security-domain operation was still InProgress when the polling budget
// ran out. The operation goes on at the service: it has not failed. Look
// again with Client.SDStatus (keyrite-uploader sd status).
var ErrStillInProgress = errors.New("uploader: the security-domain operation is still in progress")

// ErrStatusUnknown is returned (wrapped) when the operation's status could
// not be learnt (the status endpoint kept failing). Like
// ErrStillInProgress, it does not mean the operation failed.
var ErrStatusUnknown = errors.New("uploader: the security-domain operation's status could not be read")

// ErrAlreadyRequested is returned (wrapped) when a download or upload was
// not sent because the HSM already reports one: a second activation must
// never be started, and a restore in progress must not be overlaid.
var ErrAlreadyRequested = errors.New("uploader: the HSM already reports this security-domain operation")

// Progress is one poll's outcome, for a progress display.
type Progress struct {
	Operation string        // "download" or "upload"
	Poll      int           // 1 for the first poll
	Elapsed   time.Duration // since polling began
	Status    string        // the service's status, or "" after a transient error
	Details   string        // status_details, or the transient error
	Next      time.Duration // wait before the next poll; 0 when done
}

// Status is a security-domain operation's status.
type Status struct {
	Status  string `json:"status"`
	Details string `json:"status_details"`
	// Polls and Elapsed say how long the uploader watched the operation
	// (zero for a single look).
	Polls   int           `json:"polls,omitempty"`
	Elapsed time.Duration `json:"-"`
}

// Done reports whether the operation has finished, either way.
func (s *Status) Done() bool {
	return s != nil && (s.succeeded() || s.Status == StatusFailed)
}

func (s *Status) succeeded() bool { return s.Status == StatusSuccess || s.Status == "Succeeded" }

func (c *Client) now() time.Time {
	if c.cfg.Now != nil {
		return c.cfg.Now()
	}
	return time.Now()
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.cfg.Sleep != nil {
		return c.cfg.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pollDelay is the wait before poll n+1 without a Retry-After: 5 s, 10 s,
// 20 s, then the interval (30 s by default, the Python SDK's), so that a
// quick operation is seen quickly and a slow one is not hammered.
func (c *Client) pollDelay(n int) time.Duration {
	d := 5 * time.Second << min(n-1, 4)
	return min(d, c.cfg.PollInterval)
}

// retryAfter reads a Retry-After header (seconds, or an HTTP date), bounded
// to [1 s, 5 min]; 0 when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	d, ok := askedRetryAfter(h, now)
	if !ok {
		return 0
	}
	return min(max(d, time.Second), maxRetryAfter)
}

// statusDelay is the wait before status request n+1: the Retry-After of
// resp (which may be nil), else pollDelay.
func (c *Client) statusDelay(resp *http.Response, n int) time.Duration {
	var h http.Header
	if resp != nil {
		h = resp.Header
	}
	if d := retryAfter(h, c.now()); d > 0 {
		return d
	}
	return c.pollDelay(n)
}

// askedRetryAfter reads a Retry-After header (seconds, or an HTTP date)
// unbounded: what the service asked for. ok is false when it is absent or
// unreadable. The key calls (keyRetry) compare it with their budget.
func askedRetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, true
		}
		return time.Duration(min(s, int64(math.MaxInt64/time.Second))) * time.Second, true
	} else if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// statusURL is where the status of op is polled: the Azure-AsyncOperation
// URL of the operation's answer when it is an https URL on the HSM's own
// host (a token is never sent elsewhere), else {hsm}/securitydomain/{op}/pending.
func statusURL(hsm, op string, h http.Header) string {
	def := hsm + "/securitydomain/" + op + "/pending"
	ao := h.Get("Azure-AsyncOperation")
	if ao == "" {
		return def
	}
	u, err := url.Parse(ao)
	base, berr := url.Parse(hsm)
	if err != nil || berr != nil || u.Scheme != "https" || u.User != nil || !strings.EqualFold(u.Host, base.Host) {
		return def
	}
	u.RawQuery, u.Fragment = "", "" // sdCall sets the api-version
	return u.String()
}

// transient reports whether a failed status request may be tried again:
// throttling, server errors, dropped connections and network time-outs; not
// refusals, TLS failures or a server that is not Managed HSM.
func transient(err error) bool {
	var se *ServiceError
	if errors.As(err, &se) {
		return se.Status == http.StatusTooManyRequests || se.Status == http.StatusRequestTimeout || se.Status >= 500
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var op *net.OpError
	var ne net.Error
	return errors.As(err, &op) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// getStatus reads the status once.
func (c *Client) getStatus(ctx context.Context, pl runtime.Pipeline, u, op string) (*Status, *http.Response, error) {
	data, resp, err := c.sdCall(ctx, pl, http.MethodGet, u, nil, http.StatusOK)
	if err != nil {
		return nil, resp, err
	}
	var st Status
	if err := json.Unmarshal(data, &st); err != nil || st.Status == "" {
		return nil, resp, fmt.Errorf("uploader: the %s status is not JSON {\"status\",\"status_details\"}", op)
	}
	// Both are shown and recorded (progress, errors, the transcript):
	// bounded and escaped like every value the service sends.
	st.Status, st.Details = echo(st.Status), echo(st.Details)
	return &st, resp, nil
}

// poll polls the status of op at u until it succeeds or fails, or the
// budget (Config.Timeout) runs out: then ErrStillInProgress with the last
// status. A throttled or failed status request is tried again within the
// budget, after the Retry-After the service asked for, if any.
//
// With allowNone, a 404 to the first poll means the HSM reports no such
// operation: (nil, nil).
func (c *Client) poll(ctx context.Context, pl runtime.Pipeline, u, op string, allowNone bool) (*Status, error) {
	start := c.now()
	last := &Status{Status: StatusInProgress}
	var lastErr error
	for n := 1; ; n++ {
		st, resp, err := c.getStatus(ctx, pl, u, op)
		elapsed := c.now().Sub(start)
		p := Progress{Operation: op, Poll: n, Elapsed: elapsed}
		var se *ServiceError
		if n == 1 && allowNone && errors.As(err, &se) && noOperation(se) {
			return nil, nil
		}
		switch {
		case err != nil && (ctx.Err() != nil || !transient(err)):
			return last, fmt.Errorf("%w: polling the %s status: %w", ErrStatusUnknown, op, err)
		case err != nil:
			lastErr = err
			p.Details = err.Error()
		default:
			lastErr = nil
			st.Polls, st.Elapsed = n, elapsed
			last = st
			p.Status, p.Details = st.Status, st.Details
			if st.succeeded() {
				c.progress(p)
				return st, nil
			}
			if st.Status == StatusFailed {
				c.progress(p)
				return st, fmt.Errorf("%w: %s failed: %s", ErrOperationFailed, op, st.Details)
			}
		}
		wait := c.statusDelay(resp, n)
		// The last look comes when the budget ends, not before.
		remaining := c.cfg.Timeout - elapsed
		wait = min(wait, remaining)
		if remaining <= 0 {
			c.progress(p)
			if lastErr != nil && last.Polls == 0 {
				return last, fmt.Errorf("%w: %s: no answer in %s: %w", ErrStatusUnknown, op, roundDuration(elapsed), lastErr)
			}
			return last, fmt.Errorf("%w: %s still %q after %s (%d polls)", ErrStillInProgress, op, last.Status, roundDuration(elapsed), n)
		}
		p.Next = wait
		c.progress(p)
		if err := c.sleep(ctx, wait); err != nil {
			return last, fmt.Errorf("%w: %s: stopped waiting: %w", ErrStillInProgress, op, err)
		}
	}
}

func (c *Client) progress(p Progress) {
	if c.cfg.Progress != nil {
		c.cfg.Progress(p)
	}
}

// roundDuration rounds d to whole seconds for people.
func roundDuration(d time.Duration) time.Duration { return d.Round(time.Second) }

// SDStatus reads the status of the HSM's last security-domain download
// (activation) or upload (restore), op "download" or "upload". It returns
// (nil, nil) when the HSM reports none (404). With wait,
// it polls until the operation is done or the budget runs out, as the
// download and upload do.
func (c *Client) SDStatus(ctx context.Context, hsmURL, op string, wait bool) (*Status, error) {
	if op != "download" && op != "upload" {
		return nil, fmt.Errorf("uploader: unknown security-domain operation %q; expected download or upload", op)
	}
	hsm, err := c.serviceURL(hsmURL, true)
	if err != nil {
		return nil, err
	}
	pl := c.sdPipeline()
	u := statusURL(hsm, op, nil)
	if wait {
		return c.poll(ctx, pl, u, op, true)
	}
	return c.lookOnce(ctx, pl, u, op)
}

// lookOnce reads the status once, trying again within the budget after a
// transient error; (nil, nil) when the HSM reports no such operation.
func (c *Client) lookOnce(ctx context.Context, pl runtime.Pipeline, u, op string) (*Status, error) {
	start := c.now()
	for n := 1; ; n++ {
		st, resp, err := c.getStatus(ctx, pl, u, op)
		if err == nil {
			return st, nil
		}
		var se *ServiceError
		if errors.As(err, &se) && noOperation(se) {
			return nil, nil
		}
		if ctx.Err() != nil || !transient(err) {
			return nil, fmt.Errorf("%w: reading the %s status: %w", ErrStatusUnknown, op, err)
		}
		wait := c.statusDelay(resp, n)
		if c.now().Sub(start)+wait > c.cfg.Timeout {
			return nil, fmt.Errorf("%w: reading the %s status: %w", ErrStatusUnknown, op, err)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%w: reading the %s status: %w", ErrStatusUnknown, op, err)
		}
	}
}

// noOperation reports whether a status request's refusal says that no such
// operation was ever requested on this HSM (404).
func noOperation(se *ServiceError) bool { return se.Status == http.StatusNotFound }
