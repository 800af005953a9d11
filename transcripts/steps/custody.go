package steps

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keyrite/keyrite/transcripts"
)

// ManifestFileName names a custody split's manifest artifact by the first
// 8 characters of its split ID.
func ManifestFileName(splitID string) string {
	return "custody-" + splitID[:min(8, len(splitID))] + "-manifest.json"
}

// CustodySplit is "custody.split": a secret split M-of-N, each share
// encrypted to its holder. The manifest (public: recipients, share files,
// commitments) is the output.
type CustodySplit struct {
	Common
	Manifest  File   // output, kind report: ManifestFileName(SplitID)
	SplitID   string // split_id
	Threshold int    // threshold: M
	Shares    int    // shares: N
	Out       string // the directory the shares were written to, by its base name (recorded in the action only)
}

// Step returns "custody.split".
func (x *CustodySplit) Step() string { return StepCustodySplit }

func (x *CustodySplit) actionPrefix() string {
	return fmt.Sprintf("split a secret %d-of-%d (split %s) into ", x.Threshold, x.Shares, x.SplitID)
}

// Event encodes x.
func (x *CustodySplit) Event() transcripts.Event {
	ev := x.event(StepCustodySplit, x.actionPrefix()+x.Out)
	ev.Outputs = []transcripts.Artifact{x.Manifest.artifact(transcripts.KindReport)}
	var p params
	p.add("split_id", x.SplitID)
	p.addInt("threshold", int64(x.Threshold))
	p.addInt("shares", int64(x.Shares))
	ev.Params = p
	return ev
}

// ParseCustodySplit reads a custody.split event.
func ParseCustodySplit(e *transcripts.Entry) (*CustodySplit, error) {
	if err := checkStep(e, StepCustodySplit); err != nil {
		return nil, err
	}
	r := recorded{e}
	x := &CustodySplit{Common: commonOf(e), SplitID: r.str("split_id"), Threshold: int(r.num("threshold")), Shares: int(r.num("shares"))}
	x.Manifest, _ = firstFile(e.Outputs, transcripts.KindReport)
	x.Out, _ = strings.CutPrefix(e.Action, x.actionPrefix())
	if x.Out == e.Action {
		x.Out = ""
	}
	return x, nil
}

// CustodyCombine is "custody.combine": a split secret recombined from
// some of its shares. The manifest is the input; the secret is never
// recorded.
type CustodyCombine struct {
	Common
	Manifest  File   // input, kind report: ManifestFileName(SplitID)
	SplitID   string // split_id
	Used      []int  // shares_used: the share numbers used, joined with ", "
	Threshold int    // M (recorded in the action only)
	Shares    int    // N (recorded in the action only)
}

// Step returns "custody.combine".
func (x *CustodyCombine) Step() string { return StepCustodyCombine }

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// Event encodes x.
func (x *CustodyCombine) Event() transcripts.Event {
	used := joinInts(x.Used)
	ev := x.event(StepCustodyCombine, fmt.Sprintf("recombined split %s (%d-of-%d) from shares %s", x.SplitID, x.Threshold, x.Shares, used))
	ev.Inputs = []transcripts.Artifact{x.Manifest.artifact(transcripts.KindReport)}
	var p params
	p.add("split_id", x.SplitID)
	p.add("shares_used", used)
	ev.Params = p
	return ev
}

// ParseCustodyCombine reads a custody.combine event.
func ParseCustodyCombine(e *transcripts.Entry) (*CustodyCombine, error) {
	if err := checkStep(e, StepCustodyCombine); err != nil {
		return nil, err
	}
	r := recorded{e}
	x := &CustodyCombine{Common: commonOf(e), SplitID: r.str("split_id")}
	x.Manifest, _ = firstFile(e.Inputs, transcripts.KindReport)
	for _, s := range split(r.str("shares_used"), ", ") {
		if n, err := strconv.Atoi(s); err == nil {
			x.Used = append(x.Used, n)
		}
	}
	if rest, ok := strings.CutPrefix(e.Action, "recombined split "+x.SplitID+" ("); ok {
		fmt.Sscanf(rest, "%d-of-%d)", &x.Threshold, &x.Shares)
	}
	return x, nil
}
