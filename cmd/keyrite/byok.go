package main

// Stubs: replaced by the real commands of this area.

func runBYOKInspect(e *env, args []string) error { return errNotImplemented }
