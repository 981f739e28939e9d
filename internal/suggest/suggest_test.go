package suggest

import "testing"

func TestClosest(t *testing.T) {
	flags := []string{"mac", "vlan", "qos", "vlan-proto", "spoofchk", "trust", "numvfs"}
	cases := []struct {
		typed string
		cands []string
		want  string
	}{
		{"vlna", flags, "vlan"},
		{"spoofChk", flags, "spoofchk"},
		{"numvf", flags, "numvfs"},
		{"nmuvfs", flags, "numvfs"},
		{"vlan-p", flags, "vlan-proto"},
		{"ls", []string{"create", "delete", "list"}, "list"},
		{"sett", []string{"bind", "set"}, "set"},
		{"show", []string{"list"}, ""},
		{"bandwidth", flags, ""},
		{"", flags, ""},
		{"x", nil, ""},
		{"numVFs", []string{"numVfs", "name"}, "numVfs"},
	}
	for _, c := range cases {
		if got := Closest(c.typed, c.cands); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.typed, got, c.want)
		}
	}
}

func TestHint(t *testing.T) {
	if got := Hint("sett", []string{"set"}); got != `; did you mean "set"?` {
		t.Fatalf("Hint = %q", got)
	}
	if got := Hint("zzz", []string{"set"}); got != "" {
		t.Fatalf("Hint for no match = %q", got)
	}
}
