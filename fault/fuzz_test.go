package fault

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: any input is parsed or rejected with a one-line error, never a
// panic or a hang; whatever parses is valid and round-trips through String.
func FuzzParse(f *testing.F) {
	f.Add(examplePlan)
	for _, line := range strings.Split(examplePlan, "\n") {
		f.Add(line)
	}
	for _, s := range []string{
		"crash when (point=a or point=b) and not nth=3 times=0",
		"kill proc=when when proc=and",
		"enospc when path=base/*/1[0-9]* and time<1.5us",
		"crash when point=a#1 # comment",
		"pause for=1h0m0s role=walwriter when step>=18446744073709551615",
		"crash when prob=5e-324",
		"crash when " + strings.Repeat("not ", 63) + "true",
		"crash when point=a)",
		"crash\r\nkill\r\n",
		"crash when time>=1h" + strings.Repeat(" and time>=1h", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Parse(text)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, "line ") {
				t.Fatalf("error is not one line naming a line: %q", msg)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid plan: %v", err)
		}
		out := p.String()
		q, err := Parse(out)
		if err != nil {
			t.Fatalf("printed plan does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("printed plan parses to another plan:\n%s", out)
		}
		if again := q.String(); again != out {
			t.Fatalf("printing is not a fixed point:\n%s\n%s", out, again)
		}
	})
}
