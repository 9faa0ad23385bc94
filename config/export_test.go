package config

// EnvKeys lists every key that a REGSYNC_* variable can override.
func EnvKeys() []string {
	ls := envSettings()
	keys := make([]string, len(ls))
	for i, l := range ls {
		keys[i] = l.key
	}
	return keys
}
