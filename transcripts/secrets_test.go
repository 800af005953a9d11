package transcripts

import (
	"errors"
	"testing"
)

// TestSecretForms: the written forms of secrets are refused in free text
// and in artifacts, and ordinary words about them are not (sd keygen's own
// deviation, "custodian private keys generated in software", was refused).
func TestSecretForms(t *testing.T) {
	refused := []string{
		"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
		"-----BEGIN RSA PRIVATE KEY-----",
		"-----BEGIN EC PRIVATE KEY-----",
		"-----BEGIN ENCRYPTED PRIVATE KEY-----",
		"-----BEGIN OPENSSH PRIVATE KEY-----",
		"-----BEGIN PGP PRIVATE KEY BLOCK-----",
		"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----",
		"-----begin private key-----",
		"pasted without its dashes: BEGIN PRIVATE KEY MC4CAQAw",
		"-----END ML-DSA-65 PRIVATE KEY-----",
		"PuTTY-User-Key-File-3: ssh-ed25519",
		"AGE-SECRET-KEY-1QQQ",
		"age-secret-key-1qqq",
		"AGE-PLUGIN-YUBIKEY-1QYYQ79SAYS4NYW2QGA892HRRDGMU233U",
		"pkcs11:token=a;object=k?pin-value=1234",
		"pkcs11:token=a?PIN-VALUE = 1234",
		"pin=123456",
		"ran with --pin=123456",
		"the so-pin = 87654321",
		"user_pin=1",
		"SOPIN=1",
		"hsm_pin=0000",
		`{"pin": "1234"}`,
		`{"so_pin":"1234"}`,
		"puk=12345678",
		"password=hunter2",
		"db_password = hunter2",
		"passphrase=correct horse",
		`{"password":"hunter2"}`,
	}
	for _, s := range refused {
		if err := checkText("deviation", s, maxText); !errors.Is(err, ErrSecret) {
			t.Errorf("text %q: %v, want ErrSecret", s, err)
		}
		if why := secretInData([]byte(s)); why == "" {
			t.Errorf("artifact %q: not refused", s)
		}
	}
	accepted := []string{
		"rehearsal: custodian private keys generated in software and written as PEM files",
		"software keys (REHEARSAL ONLY: private keys are files)",
		"the private key never left the token",
		"PRIVATE KEY",
		"-----BEGIN PUBLIC KEY-----",
		"the PIN counter reports the final try (CKF_USER_PIN_FINAL_TRY)",
		"--final-pin-try given; PIN from --pin-env KEYRITE_PIN",
		"--pin-env=KEYRITE_PIN",
		"--pin-file=/run/pin.txt",
		"pkcs11:token=custodian1;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
		"pin-value is refused: a PIN must never be on the command line",
		"recipient plugin age-plugin-yubikey",
		"age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t",
		"mapping=identity",
		"spin=3",
		"password: asked on the terminal",
		`{"user_pin_count_low": true}`,
		"ciphertext MIIB+pin=",
		`{"x5c":["MIIB/pin="]}`,
		"pin=",
	}
	for _, s := range accepted {
		if err := checkText("deviation", s, maxText); err != nil {
			t.Errorf("text %q: %v", s, err)
		}
		if why := secretInData([]byte(s)); why != "" {
			t.Errorf("artifact %q: refused: %s", s, why)
		}
	}
}
