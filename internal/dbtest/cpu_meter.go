package dbtest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CPUMeter measures the CPU time of this process (Go) and of the Postgres
// backends serving the benchmark's database, which wall time per op hides
// behind commits' WAL flushes.
type CPUMeter struct {
	ctx     context.Context
	pool    *pgxpool.Pool
	goStart time.Duration
	pgStart map[int]time.Duration
}

// StartCPUMeter starts measuring; call it right before the benchmark loop.
func StartCPUMeter(ctx context.Context, b *testing.B, pool *pgxpool.Pool) *CPUMeter {
	b.Helper()
	m := &CPUMeter{ctx: ctx, pool: pool}
	m.goStart, m.pgStart = processCPU(b), m.backendsCPU(b)
	return m
}

// Report reports go-cpu-ns/op and pg-cpu-ns/op; call it right after the
// benchmark loop.
func (m *CPUMeter) Report(b *testing.B) {
	b.Helper()
	b.ReportMetric(float64(processCPU(b)-m.goStart)/float64(b.N), "go-cpu-ns/op")
	if m.pgStart == nil {
		return
	}
	var pg time.Duration
	for pid, after := range m.backendsCPU(b) {
		pg += after - m.pgStart[pid]
	}
	b.ReportMetric(float64(pg)/float64(b.N), "pg-cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendsCPU reads the CPU time of the database's backends from /proc, or
// returns nil when Postgres is not on this machine's /proc.
func (m *CPUMeter) backendsCPU(b *testing.B) map[int]time.Duration {
	b.Helper()
	rows, err := m.pool.Query(m.ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		b.Fatal(err)
	}
	cpu := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return nil
		}
		// Fields 14 and 15 (utime, stime), counted after the command name,
		// which may hold spaces, in clock ticks of 10 ms.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		utime, _ := strconv.Atoi(fields[11])
		stime, _ := strconv.Atoi(fields[12])
		cpu[pid] = time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return cpu
}
