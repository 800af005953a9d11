package sdop

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
	"github.com/keyrite/keyrite/transcripts"
	"github.com/keyrite/keyrite/transcripts/steps"
)

// StepDrill is the step a drill records (steps.SDVerify).
const StepDrill = steps.StepSDVerify

// A DrillRequest is one quorum drill: it proves that custodians' keys can
// restore a security domain, without restoring it. It writes nothing but,
// with a ceremony, its record.
type DrillRequest struct {
	// SD is the security-domain file.
	SD string
	// Keys are the custodians' key sources; every one is tried. Loader
	// loads them. Empty: the custodians are offered one at a time with
	// Drill.Open.
	Keys   []string
	Loader *custodian.Loader
	// CeremonyDir, when set, is the ceremony the drill is recorded in:
	// the security domain, and the report as drill_report_TIME.json.
	CeremonyDir string
	// Actor is recorded with the step (zero: the transcript's default).
	Actor transcripts.Actor
	// Guided marks the step as run by the guided ceremony in its record.
	Guided bool
	// Now is the clock that names the report (nil: time.Now).
	Now func() time.Time
}

// A Drill is a validated drill request. Close it when done.
type Drill struct {
	req        DrillRequest
	sd         *SDFile
	custodians []securitydomain.Custodian
	q          *securitydomain.Quorum
	ledger     *ledger
	reportName string
}

// A DrillResult is the outcome of a drill: its report (which says whether
// the security domain can be restored) and whether it was recorded. A
// drill that finds the security domain not restorable is a result, not an
// error.
type DrillResult struct {
	SD       *SDFile
	Report   *securitydomain.VerifyReport
	Recorded bool   // in the ceremony
	Name     string // of the report in the ceremony, when recorded
}

// Validate checks everything the drill can check before a key is used and
// returns the drill, ready to Run. With a ceremony, the ceremony is opened
// and locked.
func (req DrillRequest) Validate() (*Drill, error) {
	if req.SD == "" {
		return nil, fmt.Errorf("%w: the security domain is needed", ErrRequest)
	}
	if err := checkKeys(req.Keys, req.Loader); err != nil {
		return nil, err
	}
	d := &Drill{req: req}
	var err error
	if d.sd, err = ReadSD(req.SD); err != nil {
		return nil, err
	}
	if len(req.Keys) > 0 {
		if d.custodians, err = loadKeys(req.Loader, req.Keys); err != nil {
			return nil, err
		}
		if err := d.sd.SD.CheckCustodians(d.custodians); err != nil {
			return nil, err
		}
	}
	// Last, as opening creates the ceremony: a refusal above leaves none.
	if req.CeremonyDir != "" {
		now := time.Now
		if req.Now != nil {
			now = req.Now
		}
		d.reportName = steps.DrillReportName(now())
		preview := d.event(&securitydomain.VerifyReport{}, []byte("{}"), nil)
		if d.ledger, err = openLedger(req.CeremonyDir, preview, "run the drill again"); err != nil {
			return nil, err
		}
	}
	d.q = d.sd.SD.NewQuorum()
	return d, nil
}

// SD returns the security domain the drill reads.
func (d *Drill) SD() *SDFile { return d.sd }

// Open offers one custodian's key (the guided ceremony, without
// Request.Keys): its share is decrypted now, so that the key's card can be
// removed once Open returns. See securitydomain.Quorum.Open for what it
// returns.
func (d *Drill) Open(c securitydomain.Custodian) (securitydomain.ShareStatus, error) {
	return d.q.Open(c)
}

// Opened returns the number of shares opened so far.
func (d *Drill) Opened() int { return d.q.Opened() }

// Run tries every key of the request, runs the drill's checks
// (securitydomain.Quorum.Verify) and, with a ceremony, records the step.
// It fails only for a key refused before any decryption, or a failed
// recording (ErrRecord).
func (d *Drill) Run() (*DrillResult, error) {
	if err := d.q.OpenForDrill(d.custodians); err != nil {
		return nil, err
	}
	rep := d.q.Verify()
	d.q.Wipe()
	res := &DrillResult{SD: d.sd, Report: rep}
	if d.ledger == nil {
		return res, nil
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	ev := d.event(rep, append(data, '\n'), d.req.Loader)
	if err := d.ledger.record(ev); err != nil {
		return nil, &marked{kind: ErrRecord, err: err}
	}
	res.Recorded, res.Name = true, d.reportName
	return res, nil
}

// event is the sd.verify event: the security domain in, the report out,
// and the tokens l used.
func (d *Drill) event(rep *securitydomain.VerifyReport, report []byte, l *custodian.Loader) transcripts.Event {
	x := steps.SDVerify{
		Common:         steps.Common{Result: "ok"},
		SecurityDomain: steps.File{Name: steps.SecurityDomainFile, Data: d.sd.Data},
		Report:         steps.File{Name: d.reportName, Data: report},
		Opened:         rep.Opened, Shares: rep.Shares, Required: rep.Required,
	}
	if !rep.OK {
		x.Result = "failed: " + strings.Join(rep.Problems, "; ")
	}
	var mechs []string
	for _, k := range rep.Keys {
		if k.Opened && !slices.Contains(mechs, k.Mechanism) {
			mechs = append(mechs, k.Mechanism)
		}
	}
	x.Mechanism = strings.Join(mechs, "; ")
	x.Actor, x.Guided = d.req.Actor, d.req.Guided
	if l != nil {
		x.HSM, x.Tokens = l.HSMInfo()
	}
	return x.Event()
}

// Close ends the drill: the shares are wiped and the ceremony closed. The
// Loader is the caller's to close.
func (d *Drill) Close() {
	if d.q != nil {
		d.q.Wipe()
	}
	d.ledger.close()
	d.ledger = nil
}
