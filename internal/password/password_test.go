package password

import (
	"errors"
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "s3cret") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := Hash("s3cret")
	if h == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{"s3cret": true, "s3cre": false, "": false, "S3cret": false} {
		if ok, err := Verify(h, pw); err != nil || ok != want {
			t.Errorf("Verify(%q) = %t, %v; want %t", pw, ok, err, want)
		}
	}
	if _, err := Hash(strings.Repeat("x", MaxBytes+1)); err == nil {
		t.Error("an oversized password was hashed")
	}
}

func TestVerifyRefusesMalformed(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", // 4 GiB
		"$argon2id$v=19$m=19456,t=2,p=1$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
	} {
		if ok, err := Verify(h, "x"); ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %t, %v; want ErrMalformed", h, ok, err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h, _ := Hash("s3cret")
	for b.Loop() {
		_, _ = Verify(h, "s3cret")
	}
}
