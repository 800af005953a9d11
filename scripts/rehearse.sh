#!/usr/bin/env bash
# A complete rehearsal ceremony, end to end, on one machine:
#   SoftHSM2 plays the vendor HSM and the custodians' smartcards,
#   keyrite-emulator plays Azure (a Key Vault and a Managed HSM, over HTTPS),
#   keyrite does the offline work, keyrite-uploader the online work.
#
# usage: scripts/rehearse.sh [DIR]     (DIR must not exist; default ./rehearsal)
#
# Everything it makes stays in DIR: tokens, the emulator's state, the KEK,
# the .byok files, the custodians' certificates, the security domain, the
# restore blob, and two signed ceremony transcripts, replayed at the end;
# also a third, unsigned one, of a BYOK export run through the guided
# ceremony's plain face (keyrite --plain) with scripted answers.
# Rehearsal PINs are fixed and public: never reuse anything from DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${1:-rehearsal}
if [ -e "$dir" ]; then
  echo "rehearse: error: $dir already exists" >&2
  echo "rehearse: hint: remove it or name another directory: scripts/rehearse.sh DIR" >&2
  exit 1
fi
scripts/deps.sh
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "build the three binaries"
GOFLAGS=-buildvcs=auto go build -o "$dir/bin/" ./cmd/...
export PATH="$dir/bin:$PATH"
keyrite version

step "SoftHSM2 tokens: the vendor HSM, three custodian cards, a witness card"
module=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -e "$m" ] && module=$m && break
done
[ -n "$module" ] || { echo "rehearse: error: libsofthsm2.so not found" >&2; exit 1; }
mkdir -p "$dir/tokens"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir/tokens" > "$SOFTHSM2_CONF"
export REHEARSAL_PIN=1234   # every rehearsal token's user PIN (public!)
for t in vendor custodian1 custodian2 custodian3 witness; do
  softhsm2-util --init-token --free --label "$t" --so-pin 123456 --pin "$REHEARSAL_PIN" >/dev/null
done
p11() { local tok=$1; shift; pkcs11-tool --module "$module" --token-label "$tok" --login --pin "$REHEARSAL_PIN" "$@" >/dev/null 2>&1; }
# Target keys, generated inside the vendor HSM, extractable only wrapped.
p11 vendor --keygen --key-type AES:32 --label app-aes256 --id 01 --extractable --sensitive
p11 vendor --keypairgen --key-type EC:secp384r1 --label app-ec384 --id 02 --extractable --sensitive
p11 vendor --keypairgen --key-type rsa:3072 --label app-rsa3072 --id 03 --extractable --sensitive
# The witness signs transcripts with an ECDSA P-256 key on their card.
p11 witness --keypairgen --key-type EC:prime256v1 --label witness-sign --id 01
# uri TOKEN OBJECT [TYPE]: an RFC 7512 URI with the module path.
uri() { printf 'pkcs11:token=%s;object=%s%s?module-path=%s' "$1" "$2" "${3:+;type=$3}" "$module"; }

step "start the emulator (the cloud side)"
mkdir -p "$dir/emulator"
coproc EMU { exec keyrite-emulator --listen 127.0.0.1:0 --state "$dir/emulator/state" 2>"$dir/emulator/log"; }
emu_pid=$EMU_PID
trap 'kill $emu_pid 2>/dev/null || true' EXIT
read -r -t 30 line <&"${EMU[0]}" || { echo "rehearse: error: the emulator did not start" >&2; cat "$dir/emulator/log" >&2; exit 1; }
echo "$line"
base=${line#listening on }
hsm="$base/mhsm/rehearsal"
ca="$dir/emulator/state/ca.pem"
export REHEARSAL_TOKEN=rehearsal-token   # the emulator accepts any bearer token
online=(--ca "$ca" --token-env REHEARSAL_TOKEN)

step "online: create the Key Exchange Key in the Managed HSM"
printf '$ %s\n' "keyrite-uploader kek create --vault $hsm --name byok-kek --size 3072 --out $dir/kek.pem ${online[*]} --json"
keyrite-uploader kek create --vault "$hsm" --name byok-kek --size 3072 --out "$dir/kek.pem" "${online[@]}" --json > "$dir/kek.json"
cat "$dir/kek.json"
kid=$(sed -n 's/.*"kid": *"\([^"]*\)".*/\1/p' "$dir/kek.json")

step "offline: KEK intake; read the words aloud across the air gap"
run keyrite kek inspect --kek "$dir/kek.pem" --kid "$kid"

step "offline: export target keys from the vendor HSM, recorded in a ceremony"
byok_cer="$dir/ceremony-byok"
run keyrite byok export --key "$(uri vendor app-aes256)" --kek "$dir/kek.pem" --kid "$kid" \
  --out "$dir/app-aes256.byok" --pin-env REHEARSAL_PIN --ceremony "$byok_cer"
run keyrite byok export --key "$(uri vendor app-ec384 private)" --kek "$dir/kek.pem" --kid "$kid" \
  --out "$dir/app-ec384.byok" --pin-env REHEARSAL_PIN --ceremony "$byok_cer"
echo "# SoftHSM 2.6.1 pads RSA keys inside its key wrap; the pre-flight check catches it and refuses:"
if keyrite byok export --key "$(uri vendor app-rsa3072 private)" --kek "$dir/kek.pem" --kid "$kid" \
  --out "$dir/app-rsa3072.byok" --pin-env REHEARSAL_PIN; then
  echo "(this SoftHSM wraps RSA keys canonically)"
fi
echo "# A key in soft form (a PEM file) is wrapped in software instead:"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$dir/soft-rsa3072.pem" 2>/dev/null
run keyrite byok export --key "$dir/soft-rsa3072.pem" --kek "$dir/kek.pem" --kid "$kid" \
  --out "$dir/soft-rsa3072.byok" --ceremony "$byok_cer"
rm -f "$dir/soft-rsa3072.pem"
run keyrite byok inspect "$dir/app-aes256.byok" --kek "$dir/kek.pem" --ceremony "$byok_cer"

# ---- guided ceremony through the plain face, answers scripted -------------
step "offline, guided: a BYOK export through keyrite --plain, answers scripted"
# The guided ceremony's forms asked one line at a time, as a screen reader
# or a script meets them: here a soft EC P-256 key file exported under the
# same KEK into a ceremony of its own (ceremony-guided/, left unsigned).
# Answers name their options ("in a key file", "Quit") rather than number
# them. The witness's part, typing back the first KEK words that the online
# side reads out, is played by `keyrite kek inspect --json`.
guided_cer="$dir/ceremony-guided"
kek_words=$(keyrite kek inspect --kek "$dir/kek.pem" --kid "$kid" --json |
  sed -n 's/^ *"words": *"\([^"]*\)".*/\1/p' | head -n 1 | cut -d' ' -f1-4)
[ -n "$kek_words" ] || { echo "rehearse: error: keyrite kek inspect --json printed no words" >&2; exit 1; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/guided-ec256.pem" 2>/dev/null
echo "\$ keyrite --plain --ceremony $guided_cer <<ANSWERS   (the dialogue follows, answers echoed)"
keyrite --plain --ceremony "$guided_cer" <<ANSWERS
BYOK
$dir/kek.pem
$kid
$kek_words
in a key file
$dir/guided-ec256.pem
$dir/guided-ec256.byok

Yes, go ahead
Quit
ANSWERS
rm -f "$dir/guided-ec256.pem"
[ -s "$dir/guided-ec256.byok" ] || { echo "rehearse: error: the guided ceremony wrote no guided-ec256.byok" >&2; exit 1; }
run keyrite transcript verify "$guided_cer"
guided_json=$(keyrite transcript verify "$guided_cer" --json)
case $guided_json in
  *'"step": "byok.export"'*) echo "# the guided export is recorded (step byok.export) and the transcript verifies" ;;
  *) echo "rehearse: error: transcript verify shows no byok.export step in $guided_cer" >&2; exit 1 ;;
esac
# ---- end of the guided ceremony -------------------------------------------

step "sign the transcript: operator (Ed25519 file) and witness (ECDSA P-256 on a card)"
openssl genpkey -algorithm ed25519 -out "$dir/operator.pem" 2>/dev/null
chmod 600 "$dir/operator.pem"
op_key=$(keyrite transcript sign --key "$dir/operator.pem" --name operator --print-key)
wi_key=$(keyrite transcript sign --key "$(uri witness witness-sign private)" --pin-env REHEARSAL_PIN --name witness --print-key)
cat > "$dir/trust.json" <<JSON
{
  "keys": [
    {"name": "operator", "role": "operator", "key": "$op_key"},
    {"name": "witness", "role": "witness", "key": "$wi_key"}
  ],
  "policy": {"operator": 1, "witness": 1}
}
JSON
run keyrite transcript sign "$byok_cer" --key "$dir/operator.pem" --role operator --name operator
run keyrite transcript sign "$byok_cer" --key "$(uri witness witness-sign private)" --pin-env REHEARSAL_PIN --role witness --name witness
run keyrite transcript verify "$byok_cer" --trust "$dir/trust.json"

step "online: import exactly what the signed transcript records"
run keyrite-uploader import --ceremony "$byok_cer" --vault "$hsm" --trust "$dir/trust.json" "${online[@]}" --json

step "offline: security-domain activation keys on the custodians' cards"
run keyrite sd keygen --custodians 3 --quorum 2 --out-dir "$dir/custodians" --pin-env REHEARSAL_PIN \
  --token "$(uri custodian1 sd-wrap)" --token "$(uri custodian2 sd-wrap)" --token "$(uri custodian3 sd-wrap)"

step "online: activate the HSM (download its security domain) and fetch the exchange key"
certs=()
for c in "$dir"/custodians/*.cer; do certs+=(--cert "$c"); done
run keyrite-uploader sd download --hsm "$hsm" "${certs[@]}" --quorum 2 --out "$dir/sd.json" "${online[@]}"
run keyrite-uploader sd exchange-key --hsm "$hsm" --out "$dir/exchange.pem" "${online[@]}"

step "offline: quorum drill with all three cards, then a 2-of-3 restore"
run keyrite sd verify --sd "$dir/sd.json" --pin-env REHEARSAL_PIN \
  --wrapping-key "$(uri custodian1 sd-wrap)" --wrapping-key "$(uri custodian2 sd-wrap)" --wrapping-key "$(uri custodian3 sd-wrap)"
sd_cer="$dir/ceremony-sd"
run keyrite sd restore --sd "$dir/sd.json" --exchange-key "$dir/exchange.pem" --pin-env REHEARSAL_PIN \
  --wrapping-key "$(uri custodian1 sd-wrap)" --wrapping-key "$(uri custodian3 sd-wrap)" \
  --out "$dir/restore-blob.json" --ceremony "$sd_cer"
run keyrite transcript sign "$sd_cer" --key "$dir/operator.pem" --role operator --name operator
run keyrite transcript sign "$sd_cer" --key "$(uri witness witness-sign private)" --pin-env REHEARSAL_PIN --role witness --name witness

step "online: upload the restore blob the signed transcript records"
run keyrite-uploader sd upload --ceremony "$sd_cer" --hsm "$hsm" --trust "$dir/trust.json" "${online[@]}"
run keyrite-uploader sd status --hsm "$hsm" "${online[@]}"

step "audit: replay both ceremonies offline"
run keyrite transcript verify "$byok_cer" --trust "$dir/trust.json"
run keyrite transcript verify "$sd_cer" --trust "$dir/trust.json"
run keyrite transcript show "$byok_cer" --trust "$dir/trust.json"
run keyrite transcript show "$sd_cer" --trust "$dir/trust.json"

step "rehearsal complete: everything is in $dir"
