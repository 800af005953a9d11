package main

// Stubs: replaced by the real commands of this area.

func runTranscriptSign(e *env, args []string) error { return errNotImplemented }

func runTranscriptVerify(e *env, args []string) error { return errNotImplemented }

func runTranscriptShow(e *env, args []string) error { return errNotImplemented }
