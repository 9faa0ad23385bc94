//go:build !race

package email

const raceBuild = false
