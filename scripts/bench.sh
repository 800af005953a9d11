#!/usr/bin/env bash
# Performance goals, measured (not part of CI: the machines are shared, so
# run it on a quiet machine and read CPU time beside wall time).
#   - BYOK: 1,000 AES-256 keys exported from one SoftHSM token in one
#     session; export overhead over the raw wraps under 20%, run under 2 s
#   - security domain: a real-size restore (3 entries, 2-of-3, RSA-2048) in
#     well under 10 ms, in-process and as a whole `keyrite sd restore` process
#   - transcripts: verifying 100,000 events under 1 s
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
go test -run '^$' -bench 'BenchmarkExport1000AES' -benchtime 3x ./byok/export
go test -run '^$' -bench 'BenchmarkRestore' -benchmem ./securitydomain
go test -run '^$' -bench 'BenchmarkVerify100k' -benchtime 3x ./transcripts

# The whole process: start-up, file reads, two RSA-2048 decryptions, the
# blob written and fsynced. On tmpfs, and in the working directory's disk.
work=$(mktemp -d)
trap 'rm -rf "$work" "${shm:-}"' EXIT
go build -o "$work/" ./cmd/keyrite
v=testvectors/sd/n3_q2_rsa2048
for where in shm disk; do
  if [ "$where" = shm ] && [ -w /dev/shm ]; then d=$(mktemp -d /dev/shm/keyrite-bench.XXXXXX); shm=$d; else d=$work/disk; mkdir -p "$d"; fi
  cp $v/sd.json $v/exchange_cert.pem $v/wrap_0.pem $v/wrap_0.cer $v/wrap_1.pem $v/wrap_1.cer "$d/"
  cmd="$work/keyrite sd restore --sd $d/sd.json --exchange-key $d/exchange_cert.pem --wrapping-key $d/wrap_0.pem --wrapping-key $d/wrap_1.pem --out $d/out.json"
  echo "keyrite sd restore as a whole process ($where):"
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 3 --runs 50 --prepare "rm -f $d/out.json" "$cmd" "$work/keyrite version"
  else
    n=50; start=$(date +%s%N)
    for _ in $(seq $n); do rm -f "$d/out.json"; $cmd >/dev/null; done
    echo "  mean $(( ($(date +%s%N) - start) / n / 1000 )) µs per run (install hyperfine for CPU times)"
  fi
done
