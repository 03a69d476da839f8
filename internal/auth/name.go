package auth

import "fmt"

// MaxNameLength is the longest identity name.
const MaxNameLength = 128

// CheckName returns an error when name is not a valid identity name (of a
// user or a robot token): 1 to MaxNameLength ASCII letters, digits, '.',
// '-', '_' and '@'. The stores take any non-empty name; the commands that
// put an identity, or name one in a policy, check it here first.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLength {
		return fmt.Errorf("name %q: want 1 to %d characters", name, MaxNameLength)
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == '@':
		default:
			return fmt.Errorf("name %q: only letters, digits, '.', '-', '_' and '@' are allowed", name)
		}
	}
	return nil
}
