package securitydomain

// UploadRequest returns the body of POST /securitydomain/upload as the az
// CLI sends it on the wire (security-domain.md §9; recorded service traffic,
// testvectors/sd/recorded2025): Python's json.dumps({"value": blob}) with
// its default separators, i.e. the restore blob's text as one JSON string,
// non-ASCII characters escaped as \uXXXX. (The vectors'
// upload_request.json holds the same object indented.)
func UploadRequest(blob []byte) []byte {
	return []byte(`{"value": ` + pyQuote(string(blob)) + `}`)
}
