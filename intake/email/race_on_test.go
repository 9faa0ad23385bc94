//go:build race

package email

// raceBuild: the race detector's bookkeeping allocates beside the code.
const raceBuild = true
