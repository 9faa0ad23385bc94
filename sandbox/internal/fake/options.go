package fake

import "time"

// Positive sets *v to def unless it is positive: the default of an option
// whose zero (or a negative value) means "not set".
func Positive[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
