package cli

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Flag values that check their range as they are parsed, so that a bad
// value is the flag package's one line, "invalid value "0" for flag
// -max-attempts: must be >= 1", and never reaches a command.

// Duration prints d as every command line pgdst prints writes it: Go's
// form in ASCII (1.5ms, 500us), which the duration flags read back
// exactly.
func Duration(d time.Duration) string {
	return strings.Replace(d.String(), "µ", "u", 1)
}

// rangeErr says what range a value must be in.
func rangeErr[T int | uint64 | time.Duration](lo, hi, max T, show func(T) string) error {
	if hi == max {
		return fmt.Errorf("must be >= %s", show(lo))
	}
	return fmt.Errorf("must be in [%s, %s]", show(lo), show(hi))
}

type intValue struct {
	p      *int
	lo, hi int
}

func (v *intValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v *intValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		return fmt.Errorf("not an integer")
	}
	if int(n) < v.lo || int(n) > v.hi {
		return rangeErr(v.lo, v.hi, math.MaxInt, strconv.Itoa)
	}
	*v.p = int(n)
	return nil
}

// Int defines an int flag whose values must lie in [lo, hi] (the default
// may lie outside: 0 for "not given", say).
func Int(fs *flag.FlagSet, name string, def, lo, hi int, help string) *int {
	p := new(int)
	*p = def
	fs.Var(&intValue{p, lo, hi}, name, help)
	return p
}

type uintValue struct {
	p      *uint64
	lo, hi uint64
}

func (v *uintValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return strconv.FormatUint(*v.p, 10)
}

func (v *uintValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return fmt.Errorf("not an integer >= 0")
	}
	if n < v.lo || n > v.hi {
		return rangeErr(v.lo, v.hi, math.MaxUint64, func(x uint64) string { return strconv.FormatUint(x, 10) })
	}
	*v.p = n
	return nil
}

// Uint64 defines a uint64 flag whose values must lie in [lo, hi].
func Uint64(fs *flag.FlagSet, name string, def, lo, hi uint64, help string) *uint64 {
	p := new(uint64)
	*p = def
	fs.Var(&uintValue{p, lo, hi}, name, help)
	return p
}

type durationValue struct {
	p      *time.Duration
	lo, hi time.Duration
}

func (v *durationValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return Duration(*v.p)
}

func (v *durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	if d < v.lo || d > v.hi {
		return rangeErr(v.lo, v.hi, time.Duration(math.MaxInt64), Duration)
	}
	*v.p = d
	return nil
}

// parseDuration is time.ParseDuration with an error that does not repeat
// the value (the flag package quotes it already).
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a duration (such as 1.5ms, 30s, 2m)")
	}
	return d, nil
}

// DurationFlag defines a duration flag whose values must lie in [lo, hi].
func DurationFlag(fs *flag.FlagSet, name string, def, lo, hi time.Duration, help string) *time.Duration {
	p := new(time.Duration)
	*p = def
	fs.Var(&durationValue{p, lo, hi}, name, help)
	return p
}
