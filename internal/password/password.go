// Package password hashes and verifies user passwords with argon2id, the
// memory-hard function RFC 9106 recommends, in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash) that other tools read. A
// stored hash carries its own parameters, so they can be raised later
// without invalidating existing users.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Parameters of new hashes: OWASP's first argon2id choice (19 MiB, two
// passes, one lane), about 20–40 ms on one core. Verification runs once per
// connection or credential change, not per call (see access), so this
// cost is paid rarely.
const (
	memoryKiB = 19 * 1024
	passes    = 2
	lanes     = 1
	saltBytes = 16
	keyBytes  = 32
)

// MaxBytes bounds a password: argon2 takes any length, but a megabyte
// password is only a way to burn the server's CPU.
const MaxBytes = 1024

// MaxMemoryKiB bounds what Verify lets a stored hash ask for, so a
// hand-made hash cannot make every login allocate gigabytes.
const MaxMemoryKiB = 256 * 1024

// ErrMalformed is returned for a stored hash that is not one of ours.
var ErrMalformed = errors.New("malformed password hash")

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of password with a fresh random salt.
func Hash(password string) (string, error) {
	if len(password) > MaxBytes {
		return "", fmt.Errorf("password is %d bytes long; the limit is %d", len(password), MaxBytes)
	}
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, passes, memoryKiB, lanes, keyBytes)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, memoryKiB, passes, lanes, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string hash, comparing
// in constant time. A malformed hash is an error wrapping ErrMalformed (and
// matches nothing).
func Verify(hash, password string) (bool, error) {
	p, err := parse(hash)
	if err != nil {
		return false, err
	}
	if len(password) > MaxBytes {
		return false, nil
	}
	key := argon2.IDKey([]byte(password), p.salt, p.passes, p.memory, p.lanes, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

type params struct {
	memory, passes uint32
	lanes          uint8
	salt, key      []byte
}

func parse(hash string) (params, error) {
	var p params
	fields := strings.Split(hash, "$")
	if len(fields) != 6 || fields[0] != "" || fields[1] != "argon2id" {
		return p, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformed)
	}
	var version int
	if _, err := fmt.Sscanf(fields[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, fmt.Errorf("%w: argon2 version %q", ErrMalformed, fields[2])
	}
	if _, err := fmt.Sscanf(fields[3], "m=%d,t=%d,p=%d", &p.memory, &p.passes, &p.lanes); err != nil {
		return p, fmt.Errorf("%w: parameters %q", ErrMalformed, fields[3])
	}
	if p.memory < 8*uint32(p.lanes) || p.memory > MaxMemoryKiB || p.passes < 1 || p.passes > 16 || p.lanes < 1 {
		return p, fmt.Errorf("%w: parameters %q out of range", ErrMalformed, fields[3])
	}
	var err error
	if p.salt, err = b64.DecodeString(fields[4]); err != nil || len(p.salt) < 8 {
		return p, fmt.Errorf("%w: salt", ErrMalformed)
	}
	if p.key, err = b64.DecodeString(fields[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return p, fmt.Errorf("%w: key", ErrMalformed)
	}
	return p, nil
}
