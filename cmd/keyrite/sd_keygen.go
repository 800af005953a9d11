package main

func runSDKeygen(e *env, args []string) error { return errNotImplemented }
