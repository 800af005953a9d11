package main

import "errors"

var errNotImplemented = errors.New("not implemented yet")
