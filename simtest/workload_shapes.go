package simtest

// The workloads' shapes and value names, exported for harness/probe, which
// runs the same register, bank and list-append workloads against a real
// PostgreSQL server: its histories then look like a simulated run's, and
// follow any change made here.
const (
	RegisterKeys = registerKeys
	BankAccounts = bankAccounts
	BankBalance  = bankBalance
	ListKeys     = listKeys
	ListMopsMax  = listMopsMax
)

// RegisterValueName says what a register value is: (client+1)<<32 | a
// count of writes, "no row", or the opening 0 (registerValueName).
func RegisterValueName(v uint64) string { return registerValueName(v) }
