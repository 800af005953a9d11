package uploader

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/keyrite/keyrite/transcripts"
)

// What a hostile or broken server can make the client do is bounded here,
// below everything azcore and azkeys do with a response:
//
//   - No redirect is followed. A 307 or 308 would re-send the request, its
//     body (a .byok file, a restore blob) and, to the same host on another
//     port, its bearer token; Key Vault and Managed HSM never redirect a
//     data-plane call. A 3xx answer is an error (ErrRedirect).
//   - No response body is read past maxResponse (4 MiB; a key answer is a
//     few KiB, the largest security-domain answer well under 1 MiB). The
//     limit sits in the transport, so azcore's own body download and error
//     handling read through it; past it the read fails with
//     ErrResponseTooLarge, and azcore's retry is told not to try again.
//   - Values the service sends (a kid, an error code or message) are quoted
//     in errors through echo: at most maxEcho bytes, control characters
//     escaped, so an answer can neither flood a terminal or a transcript
//     nor forge lines in them.

// ErrRedirect is returned (wrapped, as *RedirectError) when a vault or HSM
// answers with a redirect. It is never followed.
var ErrRedirect = errors.New("uploader: " + redirectText)

// redirectText is ErrRedirect's text without the prefix, for RedirectError
// (see busyText).
const redirectText = "the server answered with a redirect, which is never followed"

// RedirectError is ErrRedirect with the answer.
type RedirectError struct {
	Method, Path string // the request
	Status       int    // 301, 302, 303, 307, 308, ...
	Location     string // where it pointed (cut by echo)
}

func (e *RedirectError) Error() string {
	to := "nowhere"
	if e.Location != "" {
		to = e.Location
	}
	return fmt.Sprintf("%s: %s %s was answered %d pointing to %s; Key Vault and Managed HSM never redirect, so the request (with its body and token) was not sent there",
		redirectText, e.Method, e.Path, e.Status, to)
}

func (e *RedirectError) Unwrap() error { return ErrRedirect }

// NonRetriable tells azcore's retry policy not to retry.
func (e *RedirectError) NonRetriable() {}

// ErrResponseTooLarge is returned (wrapped, as *ResponseTooLargeError) when
// a response body is larger than maxResponse: it is not read further.
var ErrResponseTooLarge = errors.New("uploader: " + tooLargeText)

// tooLargeText is ErrResponseTooLarge's text without the prefix, for
// ResponseTooLargeError (see busyText).
const tooLargeText = "the server's answer is too large"

// ResponseTooLargeError is ErrResponseTooLarge with the request.
type ResponseTooLargeError struct {
	Method, Path string
	Status       int   // the answer's status
	Limit        int64 // bytes
}

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("%s: the answer (%d) to %s %s is larger than %d MiB, where Key Vault and Managed HSM answers are a few KiB; it was not read further",
		tooLargeText, e.Status, e.Method, e.Path, e.Limit>>20)
}

func (e *ResponseTooLargeError) Unwrap() error { return ErrResponseTooLarge }

// NonRetriable tells azcore's retry policy not to retry.
func (e *ResponseTooLargeError) NonRetriable() {}

// guardedTransport is the azcore transport of every vault and HSM call: an
// http.Client that follows no redirect, answers a 3xx with RedirectError,
// and bounds every response body to limit bytes.
type guardedTransport struct {
	client *http.Client
	limit  int64
}

// noRedirect is the CheckRedirect of the vault client: the 3xx answer comes
// back as it is, unfollowed, and guardedTransport refuses it.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (t guardedTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := t.client.Do(traceSend(req))
	if err != nil {
		return nil, err
	}
	path := req.URL.EscapedPath()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		resp.Body.Close()
		return nil, &RedirectError{Method: req.Method, Path: path, Status: resp.StatusCode, Location: echo(resp.Header.Get("Location"))}
	}
	tooLarge := &ResponseTooLargeError{Method: req.Method, Path: path, Status: resp.StatusCode, Limit: t.limit}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, tooLarge
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.limit, err: tooLarge}
	return resp, nil
}

// limitedBody reads at most left bytes of rc; a byte more fails with err.
// Unlike io.LimitReader it does not pretend the body ended there: a cut
// answer must never be parsed as a whole one.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	err  error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		// At the limit: the body must end here.
		var one [1]byte
		for {
			n, err := b.rc.Read(one[:])
			if n > 0 {
				return 0, b.err
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// maxEcho bounds a value from the service quoted in a message.
const maxEcho = 200

// echo returns s, a value the service sent, fit to quote in an error
// message or a transcript: control, line-separator and bidirectional
// formatting characters and invalid UTF-8 escaped (\x0a, \u202e), and cut
// after maxEcho bytes with "..." and the full length. A value that looks
// like secret material (a PEM private key, an age identity: what the
// transcript refuses) is not repeated at all.
func echo(s string) string {
	out := escapeCut(s)
	if out != "" && transcripts.CheckArtifact(transcripts.NewArtifact("echo.txt", transcripts.KindServiceResponse, []byte(out))) != nil {
		return fmt.Sprintf("(%d bytes not shown: they look like secret material)", len(s))
	}
	return out
}

func escapeCut(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if b.Len() >= maxEcho {
			fmt.Fprintf(&b, "... (%d bytes)", len(s))
			return b.String()
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0, r == '\u2028', r == '\u2029', r >= '\u202a' && r <= '\u202e',
			r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\ufeff':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
