package registration

import (
	"fmt"
	"testing"
)

func TestCaseNumberFor(t *testing.T) {
	a := CaseNumberFor("email:<CAB123@mail.gmail.com>")
	if a != CaseNumberFor("email:<CAB123@mail.gmail.com>") {
		t.Fatal("case number is not deterministic")
	}
	if !ValidCaseNumber(a) {
		t.Fatalf("CaseNumberFor produced %q, which ValidCaseNumber rejects", a)
	}
	if CaseNumberFor("") != "" || CaseNumberFor("  ") != "" {
		t.Error("an empty submission key must have no case number")
	}
	seen := map[string]string{}
	for i := range 100000 {
		k := fmt.Sprintf("csv:northwind:%d", i)
		c := CaseNumberFor(k)
		if !ValidCaseNumber(c) {
			t.Fatalf("%q → %q is not valid", k, c)
		}
		if prev, ok := seen[c]; ok {
			t.Fatalf("%q and %q share case number %s", prev, k, c)
		}
		seen[c] = k
	}
}

func TestValidCaseNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"R-0123456789", true},
		{"R-ABCDEFGHJK", true},
		{"R-ABCDEFGHJI", false}, // I is not in the alphabet
		{"R-abcdefghjk", false},
		{"R-012345678", false},
		{"X-0123456789", false},
		{"", false},
		{"R-01234567890", false},
	} {
		if got := ValidCaseNumber(tc.in); got != tc.want {
			t.Errorf("ValidCaseNumber(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
