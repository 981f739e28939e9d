package cli

// Run builds only the top-level command that runs: building all of them, with every flag, and walking
// the whole tree in finishRoot was about a tenth of `sriovctl version`'s CPU. The partial root must
// behave exactly as the full one, so commandOf answers only when it is sure which command cobra will run,
// and "" (build everything) otherwise.

// fullTreeCommands need every command even when they run: completion writes the script of the whole tree.
var fullTreeCommands = map[string]bool{"completion": true}

// commandOf is the registered top-level command that args run, found as cobra's Find finds it (the first
// argument that is not a flag or a flag's value), or "" when the whole tree is needed or it is unsure:
// no command (the root's help), `help`, `__complete`, a mistyped name that needs suggestions among all
// commands, `--` or a flag other than the root's --lab, --state-dir and --json before the command.
func commandOf(args []string) string {
	for i := 0; i < len(args); i++ {
		switch s := args[i]; s {
		case "--lab", "--state-dir":
			i++ // its value; cobra skips it the same way (stripFlags)
		case "--json":
		default:
			if hasValue(s, "--lab") || hasValue(s, "--state-dir") || hasValue(s, "--json") {
				continue
			}
			if s == "" || s[0] == '-' || fullTreeCommands[s] || !registered(s) {
				return ""
			}
			return s
		}
	}
	return ""
}

// hasValue reports whether s is flag=VALUE.
func hasValue(s, flag string) bool {
	return len(s) > len(flag) && s[:len(flag)] == flag && s[len(flag)] == '='
}

func registered(name string) bool {
	for _, c := range commands {
		if c.name == name {
			return true
		}
	}
	return false
}

// builtHook, when set (by a test), is told each top-level command newRootFor builds.
var builtHook func(a *App, name string)
