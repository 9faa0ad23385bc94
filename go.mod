module github.com/regsync/regsync

go 1.26.8

require (
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)
