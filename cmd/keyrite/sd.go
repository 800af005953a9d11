package main

// Stubs: replaced by the real commands of this area.

func runSDKeygen(e *env, args []string) error { return errNotImplemented }

func runSDRestore(e *env, args []string) error { return errNotImplemented }

func runSDVerify(e *env, args []string) error { return errNotImplemented }
