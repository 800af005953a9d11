package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "keyrite-emulator: error: not implemented yet")
	os.Exit(1)
}
