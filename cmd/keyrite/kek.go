package main

// Stubs: replaced by the real commands of this area.

func runKEKInspect(e *env, args []string) error { return errNotImplemented }
