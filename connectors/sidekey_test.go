package connectors

import (
	"slices"
	"strings"
	"testing"
)

func TestStoredKey(t *testing.T) {
	k := "hubspot/2-123/456/2026-03-02T15:00:00.123456789Z/note"
	if StoredKey(k) != k {
		t.Errorf("a regsync key is stored as given: %q", StoredKey(k))
	}
	for _, odd := range []string{strings.Repeat("x", 201), "with space", "a<b", `quo"te`, "tab\tkey", "é"} {
		s := StoredKey(odd)
		if !strings.HasPrefix(s, "sha256:") || len(s) != len("sha256:")+32 || StoredKey(odd) != s {
			t.Errorf("StoredKey(%q) = %q", odd, s)
		}
	}
	if StoredKey("a b") == StoredKey("a c") {
		t.Error("two keys hash alike")
	}
	if StoredKey("") != "" || KeyLine("") != "" || MarkKey("body", "") != "body" {
		t.Error("no key, no mark")
	}
}

func TestMarkKey(t *testing.T) {
	k := "salesforce/Partner_Registration__c/a0R000000000001AAA/2026-03-02T15:00:00Z/task"
	text := MarkKey("Review it.\n", k)
	if text != "Review it.\n\nregsync-key: "+k {
		t.Errorf("marked: %q", text)
	}
	if !hasKey(text, k) || hasKey(text, k+"x") || hasKey("Review it.", k) {
		t.Error("HasKey")
	}
	if MarkKey("", k) != "regsync-key: "+k {
		t.Errorf("empty text: %q", MarkKey("", k))
	}
	// An editor's HTML around the line, and two marks.
	html := "<p>Review it.</p><p>regsync-key: " + k + "</p><p>regsync-key: other/1</p>"
	if got := MarkedKeys(html); !slices.Equal(got, []string{k, "other/1"}) {
		t.Errorf("MarkedKeys(html) = %q", got)
	}
	odd := "a key with spaces"
	if !hasKey(MarkKey("x", odd), odd) {
		t.Error("a hashed key is found again")
	}
	if MarkedKeys("regsync-key: ") != nil {
		t.Error("an empty marker is no key")
	}
}

// hasKey reports whether text is marked with key, as a connector finds a
// task or note an earlier attempt created.
func hasKey(text, key string) bool {
	return slices.Contains(MarkedKeys(text), StoredKey(key))
}
