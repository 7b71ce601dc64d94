// Package faults holds the fault tests: riskmap's HTTP service, imports and
// scoring runs under load while their database is stopped and started, and
// while the primary of a pg_auto_failover formation is killed and its
// synchronous standby promoted. Each test runs its own PostgreSQL (never
// the shared test cluster, which other packages use at the same time).
// The package has no code of its own: load_test.go is the clients the
// tests drive, faults_test.go the tests.
package faults
