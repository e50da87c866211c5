package pgerr

// ReadOnlySQLTransaction is 25006, read_only_sql_transaction: a write in
// a read-only transaction, as every transaction of a hot standby is
// (PreventCommandIfReadOnly, PreventCommandDuringRecovery).
const ReadOnlySQLTransaction Code = "25006"
