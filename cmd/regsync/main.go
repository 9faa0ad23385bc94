// Command regsync runs partner lead registration without a portal login.
package main

import (
	"os"
	_ "time/tzdata" // sla.timezone must resolve in a static binary on any base image
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
