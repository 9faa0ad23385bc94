package connectors

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Side effects (Task, Note) carry an idempotency Key. Where the CRM has a
// field for it (a Salesforce Task's Regsync_Key__c) the connector writes
// the key there; where it has none (HubSpot notes and tasks, Salesforce
// feed posts and classic notes) the key travels in the record's text, as a
// last line "regsync-key: <key>", and a retry finds it by reading the
// registration's notes or tasks. These helpers are that line.

const keyMarker = "regsync-key: "

// maxStoredKey bounds a key kept as given (Salesforce text fields hold 255
// characters).
const maxStoredKey = 200

// StoredKey is key as a CRM stores it: unchanged when it is at most 200
// characters of printable ASCII without spaces, quotes, backslashes,
// ampersands or angle brackets (regsync's own keys are), else "sha256:"
// and 32 hex digits of its SHA-256, so that it always fits a text field
// and survives a rich-text editor.
func StoredKey(key string) string {
	if key == "" {
		return ""
	}
	if len(key) <= maxStoredKey && strings.IndexFunc(key, func(r rune) bool { return !keyChar(r) }) < 0 {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

func keyChar(r rune) bool {
	return r > ' ' && r < 0x7f && !strings.ContainsRune(`"'<>&\`, r)
}

// KeyLine is the line that marks a text with key ("" for no key).
func KeyLine(key string) string {
	if key == "" {
		return ""
	}
	return keyMarker + StoredKey(key)
}

// MarkKey appends key's line to text, after a blank line; text is
// returned unchanged when key is empty.
func MarkKey(text, key string) string {
	if key == "" {
		return text
	}
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return KeyLine(key)
	}
	return text + "\n\n" + KeyLine(key)
}

// MarkedKeys returns the stored keys marked in text, in order. A marker
// wrapped in HTML by a CRM's editor (<p>regsync-key: …</p>) is still
// found.
func MarkedKeys(text string) []string {
	var out []string
	for {
		i := strings.Index(text, keyMarker)
		if i < 0 {
			return out
		}
		text = text[i+len(keyMarker):]
		end := strings.IndexFunc(text, func(r rune) bool { return !keyChar(r) })
		if end < 0 {
			end = len(text)
		}
		if end > 0 {
			out = append(out, text[:end])
		}
		text = text[end:]
	}
}
