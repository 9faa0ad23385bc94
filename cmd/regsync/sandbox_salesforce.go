package main

import (
	"context"
	"errors"
)

func serveSalesforceSandbox(_ context.Context, _ *globals, _, _, _, _ string) error {
	return &exitError{code: exitFailure, err: errors.New("the Salesforce sandbox is not part of this build yet")}
}
