package main

// Stub: replaced by the guided ceremony.
func runGuided(e *env, args []string) error { return errNotImplemented }
