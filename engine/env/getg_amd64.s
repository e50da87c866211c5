#include "textflag.h"

// func getg() uintptr
//
// The calling goroutine's g pointer, from thread-local storage (as
// runtime·getg is): a cheap, stable identity for the goroutine while it
// runs (see gkey in real_gkey.go).
TEXT ·getg(SB),NOSPLIT,$0-8
	MOVQ (TLS), R14
	MOVQ R14, ret+0(FP)
	RET
