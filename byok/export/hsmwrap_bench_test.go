package export_test

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/keyrite/keyrite/byok"
	"github.com/keyrite/keyrite/byok/export"
	"github.com/keyrite/keyrite/hsm"
	"github.com/keyrite/keyrite/hsm/softhsmtest"
	"github.com/miekg/pkcs11"
)

// BenchmarkExport1000AES exports 1,000 AES-256 keys from one SoftHSM token
// in one session, as `keyrite byok export --keys FILE --out-dir DIR` does,
// and compares with the raw two-step wraps alone on the same keys (ephemeral
// AES key, CKM_AES_KEY_WRAP_PAD, CKM_RSA_PKCS_OAEP, destroy; handles given).
//
// The tool's run has two parts, timed separately:
//   - prepare: the exporter (which starts generating the pre-flight's
//     throwaway RSA-2048 KEK on the other core), the lookup of the 1,000
//     objects by label in one pass (Session.FindAll) with each checked as a
//     target, and the AES-256 pre-flight check (KEK import, throwaway key,
//     wrap, software unwrap);
//   - exports: per key, the wrap, the .byok encoding, its read-back parse
//     (byok.ParseBlob) and the ciphertext length check, all on the critical
//     path (the command does the read-back on its writer goroutine, beside
//     the writes, so this is the conservative figure).
//
// The raw wraps and the exports are interleaved in chunks of 50 keys, so
// that both meet the same load on the shared machine. Writing files is not
// included (fsync dominates and is the same for any tool). Times are medians
// over the runs, as wall time and as this process's CPU time (SoftHSM runs
// in-process); the machines are shared, so wall time also counts waiting for
// a core. The verdicts: the export loop's overhead over the raw wraps under
// 20%, and the whole tool run (prepare + exports) under 2 s, both in CPU
// time, which a neighbour's load disturbs least; the wall figures are
// reported beside them.
//
// Where the time goes (2026-11-22, load average 6-11 on 2 cores): the
// exporter's own per-key work is within a few percent of the raw wraps. The
// strict read-back parse used to be most of the loop's overhead (~45 µs and
// 165 allocations a blob, +23-41% CPU); ParseBlob now reads Marshal's exact
// layout without JSON maps (~15 µs, 11 allocations; checked against the
// strict reader by a test and FuzzParseCanonical), and the loop's overhead is
// +8-12% CPU. The lookup by label is the largest part of the run beyond the
// loop, because SoftHSM charges almost as much for reading a token object's
// attributes (~60 µs) as for a wrap (~80 µs), and a lookup by label must read
// every object's label once; the raw baseline is given the handles.
func BenchmarkExport1000AES(b *testing.B) {
	const n = 1000
	tok := softhsmtest.New(b, "bench")
	kek, _ := testKEK(b, "2048")
	s := session(b, tok, nil)
	uris := make([]*hsm.URI, n)
	for i := range uris {
		label := fmt.Sprintf("key-%04d", i)
		uris[i] = &hsm.URI{Token: "bench", Object: label}
		v := make([]byte, 32)
		rand.Read(v)
		_, err := s.P11().CreateObject(s.Handle(), []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, v),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	kh, err := s.ImportRSAPublicKey(kek.Public, "bench-kek")
	if err != nil {
		b.Fatal(err)
	}
	objs, err := s.FindAll(uris)
	if err != nil {
		b.Fatal(err)
	}

	// raw and exports work on a chunk of the keys: a run interleaves them
	// chunk by chunk, so that both see the same load on the shared machine.
	const chunk = 50
	raw := func(part []*hsm.Object) {
		for _, o := range part {
			aes, err := s.GenerateSessionAES(256, hsm.SecretKeyOptions{Extractable: true, Wrap: true, Sensitive: true})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.WrapKey(pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil), aes, o.Handle, ""); err != nil {
				b.Fatal(err)
			}
			if _, err := s.WrapKey(hsm.OAEPSHA1(), kh, aes, ""); err != nil {
				b.Fatal(err)
			}
			if err := s.Destroy(aes); err != nil {
				b.Fatal(err)
			}
		}
	}
	var x *export.HSMExporter
	var found []*hsm.Object
	// prepare is what the command does between login and the first export:
	// the exporter (which starts generating the throwaway KEK on the other
	// core), the lookup of the 1,000 objects by label in one pass with each
	// checked as a target, then the AES-256 pre-flight check.
	prepare := func() {
		var err error
		if x, err = export.NewHSMExporter(s, kek, export.HSMOptions{}); err != nil {
			b.Fatal(err)
		}
		if found, err = s.FindAll(uris); err != nil {
			b.Fatal(err)
		}
		for _, o := range found {
			if _, err := export.TargetFromObject(o); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := x.Preflight(byok.TargetInfo{Type: byok.TypeAES, Bits: 256}); err != nil {
			b.Fatal(err)
		}
	}
	exports := func(part []*hsm.Object) {
		for _, o := range part {
			res, err := x.Export(o)
			if err != nil {
				b.Fatal(err)
			}
			data := byok.NewBlob(kek, res.Ciphertext, x.Generator()).Marshal()
			back, err := byok.ParseBlob(data)
			if err != nil {
				b.Fatal(err)
			}
			if err := byok.CheckCiphertextLen(kek, res.Target, len(back.Ciphertext)); err != nil {
				b.Fatal(err)
			}
		}
	}

	var t [3]timings // raw, prepare, exports
	raw(objs)        // warm up the token's object cache
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t[1].run(prepare)
		var rawRun, expRun timing
		for k := 0; k < n; k += chunk {
			// Alternate the order so neither side always runs on a warmer cache.
			if k/chunk%2 == 0 {
				rawRun.add(func() { raw(objs[k : k+chunk]) })
				expRun.add(func() { exports(found[k : k+chunk]) })
			} else {
				expRun.add(func() { exports(found[k : k+chunk]) })
				rawRun.add(func() { raw(objs[k : k+chunk]) })
			}
		}
		expRun.add(func() {
			if err := x.Close(); err != nil {
				b.Fatal(err)
			}
		})
		t[0].record(rawRun)
		t[2].record(expRun)
	}
	b.StopTimer()
	// Medians: the machines are shared, and a neighbour's burst inflates
	// single runs (even their CPU time, through cache and lock contention).
	rawCPU, rawWall := t[0].median()
	prepCPU, prepWall := t[1].median()
	expCPU, expWall := t[2].median()
	toolCPU, toolWall := prepCPU+expCPU, prepWall+expWall
	b.ReportMetric(rawWall, "raw-wall-ms")
	b.ReportMetric(toolWall, "tool-wall-ms")
	b.ReportMetric(prepWall, "prepare-wall-ms")
	b.ReportMetric(expWall, "exports-wall-ms")
	b.ReportMetric(rawCPU, "raw-cpu-ms")
	b.ReportMetric(toolCPU, "tool-cpu-ms")
	b.ReportMetric(100*(expWall/rawWall-1), "export-overhead-wall-%")
	b.ReportMetric(100*(expCPU/rawCPU-1), "export-overhead-cpu-%")
	b.ReportMetric(100*(toolWall/rawWall-1), "run-overhead-wall-%")
	b.ReportMetric(100*(toolCPU/rawCPU-1), "run-overhead-cpu-%")
	b.Logf("1,000 AES-256 keys, medians of %d runs:\n"+
		"  raw wraps: %6.0f ms wall %6.0f ms CPU\n"+
		"  tool:      %6.0f ms wall %6.0f ms CPU (prepare %.0f/%.0f, exports %.0f/%.0f ms wall/CPU)\n"+
		"  export loop overhead: %+.1f%% wall, %+.1f%% CPU; whole run: %+.1f%% wall, %+.1f%% CPU",
		b.N, rawWall, rawCPU, toolWall, toolCPU, prepWall, prepCPU, expWall, expCPU,
		100*(expWall/rawWall-1), 100*(expCPU/rawCPU-1), 100*(toolWall/rawWall-1), 100*(toolCPU/rawCPU-1))
	if b.N < 5 {
		return // too few runs for a verdict (the benchmark's first, calibrating run)
	}
	if o := 100 * (expCPU/rawCPU - 1); o >= 20 {
		b.Errorf("export loop overhead %.1f%% (CPU) over the raw wraps (%.0f ms vs %.0f ms); the target is under 20%%", o, expCPU, rawCPU)
	}
	if toolCPU >= 2000 || toolWall >= 2000 {
		b.Errorf("exporting %d keys took %.0f ms (%.0f ms CPU); the target is under 2 s", n, toolWall, toolCPU)
	}
}

// timings collects the wall and CPU time of each run of one part.
type timings struct{ wall, cpu []float64 }

func (t *timings) run(f func()) {
	var one timing
	runtime.GC() // each part pays for its own garbage, not the previous part's
	one.add(f)
	t.record(one)
}

func (t *timings) record(one timing) {
	t.cpu = append(t.cpu, ms(one.cpu))
	t.wall = append(t.wall, ms(one.wall))
}

// timing accumulates the wall and CPU time of calls.
type timing struct{ wall, cpu time.Duration }

func (t *timing) add(f func()) {
	w, c := time.Now(), cpuTime()
	f()
	t.cpu += cpuTime() - c
	t.wall += time.Since(w)
}

// median returns the median CPU and wall times in milliseconds.
func (t *timings) median() (cpu, wall float64) {
	med := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		if len(v) == 0 {
			return 0
		}
		return v[len(v)/2]
	}
	return med(t.cpu), med(t.wall)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
