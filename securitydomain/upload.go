package securitydomain

// UploadRequest returns the body of POST /securitydomain/upload as the az
// CLI sends it (security-domain.md §9; the vectors' upload_request.json):
// Python's json.dumps({"value": blob}, indent=2), i.e. the restore blob's
// text as one JSON string, non-ASCII characters escaped as \uXXXX.
func UploadRequest(blob []byte) []byte {
	return []byte("{\n  \"value\": " + pyQuote(string(blob)) + "\n}")
}
