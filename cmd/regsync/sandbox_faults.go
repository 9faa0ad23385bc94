package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/regsync/regsync/internal/crmfault"
)

// sandboxFaultsHelp is the part of `regsync sandbox --help` on faults.
const sandboxFaultsHelp = `--faults RATE[,KIND=WEIGHT...] makes either sandbox misbehave as its CRM does:
RATE (0 to 1) of the API requests fail, each with one of the kinds 429 (HubSpot:
429 TEN_SECONDLY_ROLLING with its rate-limit headers; Salesforce: 403
REQUEST_LIMIT_EXCEEDED), 5xx_before, 5xx_after (a 5xx in the CRM's shape before
or after the request is applied), reset_before, reset_after (the connection
drops without an answer, before or after), truncate (the request is applied,
its answer cut short) and latency (0.5 to 6 s, then the answer); all equally
likely, or, when kinds are named, only those, in proportion to their weights
(--faults 0.2; --faults 0.1,reset_after=2,truncate=1). The faults start once the
sandbox is set up; GET /sandbox/calls counts them by kind. --faults-seed N
(default: from the clock, printed at start) draws the same faults again for
the same sequence of requests.`

// sandboxFaults builds the injector of --faults and --faults-seed, or nil.
func sandboxFaults(cmd *cobra.Command, spec string, seed uint64) (*crmfault.Injector, error) {
	seedSet := cmd.Flags().Changed("faults-seed")
	if !cmd.Flags().Changed("faults") {
		if seedSet {
			return nil, usageErr(errors.New("--faults-seed needs --faults"))
		}
		return nil, nil
	}
	sp, err := crmfault.Parse(spec)
	if err != nil {
		return nil, usageErr(fmt.Errorf("--faults: %w", err))
	}
	if !seedSet {
		seed = uint64(time.Now().UnixNano())
	}
	return crmfault.New(sp, seed, crmfault.Options{}), nil
}

// printFaults says which faults the sandbox injects and how to draw them
// again.
func printFaults(w io.Writer, in *crmfault.Injector) {
	if in == nil {
		return
	}
	fmt.Fprintf(w, "faults: %s (--faults %s); seed %d (--faults-seed %d draws them again)\n",
		in.Spec().Describe(), in.Spec(), in.Seed(), in.Seed())
}
