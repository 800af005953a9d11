package custodian_test

import (
	"fmt"
	"os"

	"github.com/keyrite/keyrite/securitydomain"
	"github.com/keyrite/keyrite/securitydomain/custodian"
)

// A quorum drill with two custodians' PEM keys, their certificates beside
// them (wrap_0.pem with wrap_0.cer). A key on a token is given the same way,
// as a PKCS#11 URI such as
// "pkcs11:token=custodian1;object=sd-wrap?module-path=/usr/lib/softhsm/libsofthsm2.so";
// its PIN is then asked through Options.PIN when its share is opened.
func Example() {
	data, err := os.ReadFile("../../testvectors/sd/n3_q2_rsa2048/sd.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	sd, err := securitydomain.ParseSD(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	l := custodian.NewLoader(custodian.Options{
		Password: func(prompt string) ([]byte, error) { return nil, fmt.Errorf("%s: no password here", prompt) },
		PIN:      func(prompt string) ([]byte, error) { return nil, fmt.Errorf("%s: no PIN here", prompt) },
	})
	defer l.Close()
	var cs []securitydomain.Custodian
	for _, src := range []string{
		"../../testvectors/sd/n3_q2_rsa2048/wrap_0.pem",
		"../../testvectors/sd/n3_q2_rsa2048/wrap_2.pem",
	} {
		c, err := l.Load(src)
		if err != nil {
			fmt.Println(err)
			return
		}
		cs = append(cs, c)
	}
	r, err := securitydomain.Verify(sd, cs)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range r.Keys {
		fmt.Printf("share x=%d opened: %v [%s]\n", k.X, k.Opened, k.Mechanism)
	}
	fmt.Println("restorable:", r.OK)
	// Output:
	// share x=1 opened: true [software RSA-OAEP-SHA-256]
	// share x=3 opened: true [software RSA-OAEP-SHA-256]
	// restorable: true
}
