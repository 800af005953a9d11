// Package deps pins the project's chosen dependencies in go.mod while the
// packages that use them are being written. Nothing imports it. Remove an
// import here once a real package imports it.
package deps

import (
	_ "filippo.io/age"
	_ "github.com/Azure/azure-sdk-for-go/sdk/azcore"
	_ "github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	_ "github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	_ "github.com/charmbracelet/bubbletea"
	_ "github.com/charmbracelet/lipgloss"
	_ "github.com/hashicorp/vault/shamir"
	_ "github.com/in-toto/attestation/go/v1"
	_ "github.com/miekg/pkcs11"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/secure-systems-lab/go-securesystemslib/dsse"
	_ "github.com/tink-crypto/tink-go/v2/kwp/subtle"
	_ "golang.org/x/mod/sumdb/note"
	_ "golang.org/x/mod/sumdb/tlog"
	_ "google.golang.org/protobuf/encoding/protojson"
)
