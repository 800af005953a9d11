// Package transcripts records key ceremonies so that auditors can replay
// them years later and the online uploader acts only on what was recorded
// and signed.
//
// (The full manual is being written; see the sections below as they land.)
package transcripts
