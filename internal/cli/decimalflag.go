package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// pflag parses integer flags with strconv's base 0, so `--vlan 010` is octal 8, `--numvfs 0x10` is 16 and
// `1_0` is 10. Nobody types a VLAN in octal on purpose: every integer flag takes plain decimal only, and a
// leading zero is refused rather than guessed at (is "010" 10 or 8? the user meant one of them). The rule
// is the policy file's (sriov.IsDecimal).

// errNotDecimal is the reason shown for a refused integer; flagError adds the flag and the value.
type errNotDecimal struct{ numeric bool }

func (e errNotDecimal) Error() string {
	if e.numeric {
		return "want a whole number in plain decimal, e.g. 10 (no leading zeros, base prefix, '+' or '_')"
	}
	return "want a whole number, e.g. 10"
}

// looksNumeric: the text is a number in some other form (010, 0x10, +5, 1_0, 2.5).
func looksNumeric(s string) bool {
	if len(s) > 1 && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	return len(s) > 0 && s[0] >= '0' && s[0] <= '9'
}

// decimalValue wraps a pflag integer Value: it checks the text is decimal, then lets the wrapped Value
// parse it (plain decimal means the same in base 0 and base 10, so the result is exact).
type decimalValue struct{ pflag.Value }

func (d decimalValue) Set(s string) error {
	if !sriov.IsDecimal(s, 0, true) {
		return errNotDecimal{numeric: looksNumeric(s)}
	}
	return d.Value.Set(s)
}

// integerTypes are the pflag Value types parsed with base 0.
var integerTypes = map[string]bool{"int": true, "int8": true, "int16": true, "int32": true, "int64": true,
	"uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true}

// decimalFlags makes every integer flag of cmd and its subcommands decimal-only, so no command has to
// remember to. It runs once the tree is built (flags are defined by then).
func decimalFlags(cmd *cobra.Command) {
	wrap := func(f *pflag.Flag) {
		if _, done := f.Value.(decimalValue); !done && integerTypes[f.Value.Type()] {
			f.Value = decimalValue{f.Value}
		}
	}
	cmd.Flags().VisitAll(wrap)
	cmd.PersistentFlags().VisitAll(wrap)
	for _, c := range cmd.Commands() {
		decimalFlags(c)
	}
}
