package cli

import "fmt"

// plural is n with the noun in the number it needs: "1 write", "2 writes", "0 writes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
