package main

// Stubs: replaced by the real commands of this area.

func runCustodySplit(e *env, args []string) error { return errNotImplemented }

func runCustodyCombine(e *env, args []string) error { return errNotImplemented }
