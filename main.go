// Command dsys is one binary for distributed-systems work from the shell:
// ZeroMQ messaging, a Celery-compatible task queue and chunked array compute.
package main

import (
	"os"

	"github.com/dsys-dev/dsys/cmd"
)

func main() { os.Exit(cmd.Main()) }
