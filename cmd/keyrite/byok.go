package main

// Stubs: replaced by the real commands of this area.

func runBYOKExport(e *env, args []string) error { return errNotImplemented }

func runBYOKInspect(e *env, args []string) error { return errNotImplemented }
