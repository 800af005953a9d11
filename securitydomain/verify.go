package securitydomain

import (
	"crypto/subtle"
	"fmt"
	"strings"
)

// A VerifyReport is the result of a quorum drill. Nothing in it is secret.
type VerifyReport struct {
	Required int           `json:"required"`
	Shares   int           `json:"shares_in_sd"`
	KidForm  string        `json:"share_kid_form"` // see SecurityDomain.ShareKidForm
	Keys     []ShareStatus `json:"keys"`
	Opened   int           `json:"opened"`
	Quorum   bool          `json:"quorum_reached"`
	Subsets  int           `json:"subsets_checked"`
	Agree    bool          `json:"subsets_agree"`
	Disagree [][]int       `json:"disagreeing_subsets,omitempty"` // x coordinates of subsets whose key differs from the first
	Data     []DataCheck   `json:"data"`
	DataOK   bool          `json:"data_authenticated"`
	OK       bool          `json:"ok"`
	Problems []string      `json:"problems,omitempty"`
}

// DataCheck is the outcome for one EncData entry.
type DataCheck struct {
	Tag           string `json:"tag"`
	Size          int    `json:"size,omitempty"`
	Authenticated bool   `json:"authenticated"`
	Error         string `json:"error,omitempty"`
}

// Verify runs a quorum drill: it tries every custodian key (recording which
// shares open and why others do not), recovers the master key from every
// quorum-size subset of the opened shares and checks that they all agree,
// and authenticates and decrypts every EncData entry with it. Plaintexts are
// wiped, never returned. OK is true only if a quorum opened, every subset
// agrees and every entry authenticates.
//
// An error is returned only for inputs refused before any decryption (a key
// given twice, a certificate that is not RSA-2048 or larger); everything
// else is in the report. It is [Quorum.OpenForDrill] then [Quorum.Verify].
func Verify(sd *SecurityDomain, custodians []Custodian) (*VerifyReport, error) {
	if err := sd.CheckCustodians(custodians); err != nil {
		return nil, err
	}
	q := sd.NewQuorum()
	defer q.Wipe()
	if err := q.OpenForDrill(custodians); err != nil {
		return nil, err
	}
	return q.Verify(), nil
}

// Verify runs the drill's checks on the shares opened so far (see
// [Verify]); the report's Keys are [Quorum.Status]. The Quorum keeps its
// shares.
func (q *Quorum) Verify() *VerifyReport {
	sd := q.sd
	r := &VerifyReport{Required: sd.Required, Shares: len(sd.Shares), KidForm: sd.ShareKidForm()}
	r.Keys = q.Status()
	r.Opened = q.Opened()
	r.Quorum = q.Reached()
	for _, st := range r.Keys {
		if st.Err != nil {
			r.Problems = append(r.Problems, st.Custodian+": "+st.Error)
		}
	}
	if !r.Quorum {
		r.Problems = append(r.Problems, fmt.Sprintf("only %d of the %d required shares opened", r.Opened, sd.Required))
		for _, e := range sd.Data {
			r.Data = append(r.Data, DataCheck{Tag: e.Tag, Error: "not checked: no quorum"})
		}
		return r
	}
	first := q.checkSubsets(r)
	defer clear(first)
	q.checkData(r, first)
	r.OK = r.Quorum && r.Agree && r.DataOK
	return r
}

// checkSubsets recovers the master key from every quorum-size subset of
// the opened shares and records in r whether they agree. It returns the
// first subset's key (nil if none combined).
func (q *Quorum) checkSubsets(r *VerifyReport) []byte {
	var first []byte
	r.Agree = true
	forSubsets(r.Opened, q.sd.Required, func(idx []int) {
		r.Subsets++
		mk, err := q.combine(idx)
		xs := make([]int, len(idx))
		for i, k := range idx {
			xs[i] = q.xs[k]
		}
		switch {
		case err != nil:
			r.Agree = false
			r.Disagree = append(r.Disagree, xs)
			r.Problems = append(r.Problems, fmt.Sprintf("shares with x = %s do not combine: %s", joinInts(xs), err.Error()))
		case first == nil:
			first = mk
			return
		case subtle.ConstantTimeCompare(first, mk) != 1:
			r.Agree = false
			r.Disagree = append(r.Disagree, xs)
			r.Problems = append(r.Problems, fmt.Sprintf("shares with x = %s give a different master key", joinInts(xs)))
		}
		clear(mk)
	})
	return first
}

// checkData authenticates and decrypts every EncData entry with master
// (none when nil), recording the outcome in r.
func (q *Quorum) checkData(r *VerifyReport, master []byte) {
	r.DataOK = master != nil
	for i, e := range q.sd.Data {
		c := DataCheck{Tag: e.Tag}
		if master == nil {
			c.Error = "not checked: no master key"
		} else {
			k := dataKey(master, e.Tag)
			pt, err := q.sd.data[i].open(k)
			clear(k)
			if err != nil {
				c.Error = err.Error()
				r.DataOK = false
				r.Problems = append(r.Problems, fmt.Sprintf("EncData.data[%d] (tag %q): %s", i, e.Tag, c.Error))
			} else {
				c.Authenticated, c.Size = true, len(pt)
				clear(pt)
			}
		}
		r.Data = append(r.Data, c)
	}
}

// forSubsets calls f with every k-subset of 0..n-1, in lexicographic order.
func forSubsets(n, k int, f func([]int)) {
	idx := make([]int, k)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == k {
			f(idx)
			return
		}
		for i := start; i <= n-(k-depth); i++ {
			idx[depth] = i
			rec(i+1, depth+1)
		}
	}
	rec(0, 0)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}
