#include "textflag.h"

// func getg() uintptr (see getg_amd64.s).
TEXT ·getg(SB),NOSPLIT,$0-8
	MOVD g, R0
	MOVD R0, ret+0(FP)
	RET
