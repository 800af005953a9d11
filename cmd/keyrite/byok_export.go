package main

// Stub: replaced by the real command.

func runBYOKExport(e *env, args []string) error { return errNotImplemented }
