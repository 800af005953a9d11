package uploader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Retries of the key calls (create, import, get, encrypt).
//
// azcore's own retry policy is off (MaxRetries -1): it waits on the wall
// clock, gives up on a Retry-After above MaxRetryDelay (a 429 asking for an
// hour failed at once), counts tries rather than time (a 429 asking for 20 s
// gave up after about a minute) and re-sends a PUT or POST whose answer was
// lost. keyRetry replaces it, on the client's clock (Config.Now,
// Config.Sleep):
//
//   - A call is tried again while the time budget allows (Config.Timeout,
//     30 minutes by default, counted from the client's first key call: the
//     command's budget). A Retry-After is honoured as asked, however long,
//     if the wait ends within the budget; one that does not is refused at
//     once (ErrBusy). Without one the waits are 5, 10, 20, then 30 s.
//     Every wait is announced first (Config.OnWait).
//   - What is tried again depends on whether doing it twice could do it
//     twice. Reads (GET) and encrypt (which changes nothing) are tried
//     again after 408, 429, 500, 502, 503, 504 and after a dropped
//     connection (at most maxNetRetries times). An import (PUT) or a key
//     create (POST) makes a key version each time it is done, so it is
//     tried again only when it was surely not done: a 429 or 503 (the
//     service did not process it), or a connection that failed before the
//     request was written. When the request was sent and no answer came (a
//     dropped connection, a 500, 502, 504 or 408), its outcome is unknown:
//     ErrOutcomeUnknown, never sent again.

// ErrBusy is returned (wrapped, as *BusyError) when a key call was
// throttled or refused as unavailable (429, 503, ...) and the time budget
// does not allow waiting for the service: it asked to wait longer than
// what is left, or the budget ran out.
var ErrBusy = errors.New("uploader: " + busyText)

// busyText is ErrBusy's text without the package prefix, for BusyError.
// One prefix per message: the errors the transport and the key calls'
// policies make (BusyError, OutcomeUnknownError, KidError, RedirectError,
// ResponseTooLargeError, noChallengeError) leave the package only inside a
// message of its own that starts with "uploader: " ("uploader: creating KEK
// k: the service is busy: ..."), so their texts do not say it again; the
// sentinels, which may be returned alone, keep it.
const busyText = "the service is busy"

// BusyError is ErrBusy with what the service said.
type BusyError struct {
	Request string        // e.g. "PUT /keys/app"
	Service *ServiceError // the last answer
	Asked   time.Duration // the Retry-After the service asked for; 0 if none
	Left    time.Duration // what was left of the budget
	Budget  time.Duration // Config.Timeout
	Tries   int
}

func (e *BusyError) Error() string {
	if e.Asked > 0 {
		return fmt.Sprintf("%s: %s: the service asked to wait %s (%d %s), longer than the %s left of the time budget (--timeout %s); not waiting: %s",
			busyText, e.Request, e.Asked, e.Service.Status, e.Service.Code, roundDuration(max(e.Left, 0)), e.Budget, e.Service)
	}
	return fmt.Sprintf("%s: %s: still %d %s after %d tries; the time budget (--timeout %s) leaves no time to try again: %s",
		busyText, e.Request, e.Service.Status, e.Service.Code, e.Tries, e.Budget, e.Service)
}

func (e *BusyError) Unwrap() []error { return []error{ErrBusy, e.Service} }

// NonRetriable tells azcore's retry policy not to retry.
func (e *BusyError) NonRetriable() {}

// ErrOutcomeUnknown is returned (wrapped, as *OutcomeUnknownError) when an
// import or key create was sent and no answer says what became of it. It
// was not sent again: doing it twice would make a second key version.
var ErrOutcomeUnknown = errors.New("uploader: " + outcomeUnknownText)

// outcomeUnknownText is ErrOutcomeUnknown's text without the prefix, for
// OutcomeUnknownError (see busyText).
const outcomeUnknownText = "the request was sent but its outcome is unknown"

// OutcomeUnknownError is ErrOutcomeUnknown with what happened.
type OutcomeUnknownError struct {
	Request string // e.g. "PUT /keys/app"
	Err     error  // the transport error, or the *ServiceError of a 408/500/502/504
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("%s: %s: %v; the vault may or may not have done it, and it was not sent again (a second import or create would make a second key version): look at the key's versions in the vault before trying again",
		outcomeUnknownText, e.Request, e.Err)
}

func (e *OutcomeUnknownError) Unwrap() []error { return []error{ErrOutcomeUnknown, e.Err} }

// NonRetriable tells azcore's retry policy not to retry.
func (e *OutcomeUnknownError) NonRetriable() {}

// Wait is a wait before a key call is tried again, for a progress display
// (Config.OnWait).
type Wait struct {
	Request string        // e.g. "PUT /keys/app"
	Status  int           // the answer's status (429, 503, ...); 0 after a network error
	Code    string        // the service's error code (e.g. "Throttled"), or the network error
	Asked   bool          // the service asked for this wait (Retry-After)
	Delay   time.Duration // how long
	Try     int           // the try that follows the wait (2 for the first retry)
	Left    time.Duration // what is left of the budget when the wait is over
}

// String is the line a person reads, e.g. "PUT /keys/app: the service
// asked to wait 20s (429 Throttled); waiting".
func (w Wait) String() string {
	switch {
	case w.Asked:
		return fmt.Sprintf("%s: the service asked to wait %s (%d %s); waiting", w.Request, w.Delay, w.Status, w.Code)
	case w.Status != 0:
		return fmt.Sprintf("%s: the service answered %d %s; trying again in %s", w.Request, w.Status, w.Code, w.Delay)
	}
	return fmt.Sprintf("%s: no answer (%s); trying again in %s", w.Request, w.Code, w.Delay)
}

// maxNetRetries bounds the retries after network errors: a network that is
// down fails in about half a minute, not at the end of the budget.
const maxNetRetries = 3

// keyRetry is the retry policy of the key clients; see above. It runs once
// per call, before the challenge policy, so that every try is
// authenticated as the first was.
type keyRetry struct{ c *Client }

// sendState tells keyRetry whether an authenticated request was written
// out in full (guardedTransport sets it).
type sendState struct{ sent atomic.Bool }

type sendStateKey struct{}

// traceSend marks st when req, an authenticated request, has been written
// in full. The challenge request (no token, no body) does not count: it
// does nothing at the service.
func traceSend(req *http.Request) *http.Request {
	st, ok := req.Context().Value(sendStateKey{}).(*sendState)
	if !ok || req.Header.Get("Authorization") == "" {
		return req
	}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				st.sent.Store(true)
			}
		},
	}))
}

func (p keyRetry) Do(req *policy.Request) (*http.Response, error) {
	c := p.c
	raw := req.Raw()
	what := describeRequest(raw.Method, raw.URL.Path)
	repeatable := idempotent(raw.Method, raw.URL.Path)
	netRetries := 0
	c.startKeyBudget()
	for try := 1; ; try++ {
		if err := req.RewindBody(); err != nil {
			return nil, err
		}
		st := &sendState{}
		resp, err := req.Clone(context.WithValue(raw.Context(), sendStateKey{}, st)).Next()
		if raw.Context().Err() != nil {
			if err != nil && !repeatable && st.sent.Load() {
				return nil, &OutcomeUnknownError{Request: what, Err: err}
			}
			return resp, err
		}
		var nre interface{ NonRetriable() }
		w := Wait{Request: what, Try: try + 1}
		var se *ServiceError
		switch {
		case err != nil && errors.As(err, &nre):
			return resp, err
		case err != nil && !repeatable && st.sent.Load():
			return nil, &OutcomeUnknownError{Request: what, Err: err}
		case err != nil && !netError(err):
			return resp, err
		case err != nil && netRetries >= maxNetRetries:
			return nil, notSent(what, repeatable, err)
		case err != nil:
			netRetries++
			w.Code = echo(err.Error())
		case !retryStatus(resp.StatusCode, repeatable):
			if !repeatable && unknownStatus(resp.StatusCode) {
				return nil, &OutcomeUnknownError{Request: what, Err: fromResponse(resp)}
			}
			return resp, nil
		default:
			se = fromResponse(resp)
			w.Status, w.Code = se.Status, se.Code
		}
		now := c.now()
		left := c.keyBudgetLeft(now)
		if resp != nil {
			if asked, ok := askedRetryAfter(resp.Header, now); ok && asked > 0 {
				w.Asked, w.Delay = true, asked
			}
		}
		if !w.Asked {
			w.Delay = c.pollDelay(try)
		}
		if w.Delay > left {
			if se == nil {
				return nil, notSent(what, repeatable, err)
			}
			resp.Body.Close()
			be := &BusyError{Request: what, Service: se, Left: left, Budget: c.cfg.Timeout, Tries: try}
			if w.Asked {
				be.Asked = w.Delay
			}
			return nil, be
		}
		if resp != nil {
			resp.Body.Close()
		}
		w.Left = left - w.Delay
		if c.cfg.OnWait != nil {
			c.cfg.OnWait(w)
		}
		if err := c.sleep(raw.Context(), w.Delay); err != nil {
			return nil, err
		}
	}
}

// netError reports whether err is a network failure that a request may be
// tried again after: transient ones, and a connection closed under a
// request being written.
func netError(err error) bool { return transient(err) || errors.Is(err, net.ErrClosed) }

// notSent describes a network failure that stopped an import or create
// before it was written in full: the service cannot have acted on a
// request it did not receive whole.
func notSent(what string, repeatable bool, err error) error {
	if repeatable {
		return err
	}
	// Without the prefix: the key calls put it before ("uploader:
	// importing k: ..."), as for BusyError.
	return fmt.Errorf("%s was not sent in full, so the vault cannot have acted on it: %w", what, err)
}

// retryStatus says whether an answer with this status may be tried again:
// for a repeatable call, what azcore retries; for an import or create, only
// what says it was not processed.
func retryStatus(status int, repeatable bool) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return repeatable
	}
	return false
}

// unknownStatus says whether an answer leaves an import's or create's
// outcome unknown: a time-out or a failure in the service or a gateway
// may come after the key version was made.
func unknownStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// idempotent says whether doing the request twice is the same as doing it
// once: reads, and encrypt (the KCV check), which changes nothing.
func idempotent(method, path string) bool {
	switch method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		return strings.HasSuffix(path, "/encrypt")
	}
	return false
}

// describeRequest names a request for people: the method and the path from
// /keys/ on (a stand-in's /kv/NAME prefix dropped).
func describeRequest(method, path string) string {
	if i := strings.Index(path, "/keys/"); i >= 0 {
		path = path[i:]
	}
	return method + " " + echo(path)
}

// keyBudgetLeft returns what is left at now of the key calls' budget,
// which starts at the client's first key call.
func (c *Client) keyBudgetLeft(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keyStart.IsZero() {
		c.keyStart = now
	}
	return c.cfg.Timeout - now.Sub(c.keyStart)
}

// startKeyBudget starts the key calls' budget, if it has not started.
func (c *Client) startKeyBudget() { c.keyBudgetLeft(c.now()) }
