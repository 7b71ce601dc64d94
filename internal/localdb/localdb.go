// Package localdb runs a private PostgreSQL + PostGIS cluster under a folder of
// the repository, so that `make run` and `make test` need no database set up
// by hand. PostgreSQL refuses to run as root, so when we are root the cluster
// belongs to the `postgres` OS user that Debian's packages create.
package localdb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Packages are the Debian packages the cluster needs.
var Packages = []string{"postgresql", "postgresql-postgis", "postgis"}

// Cluster is a private PostgreSQL cluster in Dir, listening on 127.0.0.1:Port.
type Cluster struct {
	Dir  string // data folder, e.g. .data/pg
	Port int
}

// FromEnv returns the cluster configured by RISKMAP_DATA (default .data) and
// RISKMAP_PG_PORT (default 54329).
func FromEnv(getenv func(string) string) Cluster {
	dir := getenv("RISKMAP_DATA")
	if dir == "" {
		dir = ".data"
	}
	port, err := strconv.Atoi(getenv("RISKMAP_PG_PORT"))
	if err != nil || port <= 0 {
		port = 54329
	}
	abs, err := filepath.Abs(filepath.Join(dir, "pg"))
	if err != nil {
		abs = filepath.Join(dir, "pg")
	}
	return Cluster{Dir: abs, Port: port}
}

// URL is the connection string of the cluster's riskmap database. The cluster
// trusts connections from 127.0.0.1 only: it is a developer's private database.
func (c Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/riskmap?sslmode=disable", c.Port)
}

// Up installs what is missing (as root), creates the cluster on first use,
// starts it unless it runs already, and creates the riskmap database.
// Running it again reuses the cluster and its data.
func (c Cluster) Up(ctx context.Context, log io.Writer) error {
	bin, err := findBinDir()
	if err != nil {
		if os.Geteuid() != 0 {
			return fmt.Errorf("%w\ninstall them with: sudo apt-get install -y %s", err, strings.Join(Packages, " "))
		}
		fmt.Fprintf(log, "localdb: installing %s\n", strings.Join(Packages, " "))
		if err := install(ctx, log); err != nil {
			return err
		}
		if bin, err = findBinDir(); err != nil {
			return err
		}
	}
	if !hasPostGIS(bin) {
		if os.Geteuid() != 0 {
			return fmt.Errorf("PostGIS is not installed for %s\ninstall it with: sudo apt-get install -y %s", bin, strings.Join(Packages, " "))
		}
		if err := install(ctx, log); err != nil {
			return err
		}
	}
	owner, err := clusterOwner()
	if err != nil {
		return err
	}
	c.Dir = c.reachableDir(ctx, owner, log)
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("localdb: %w", err)
	}
	if owner != nil {
		if err := exec.CommandContext(ctx, "chown", "-R", owner.Username, filepath.Dir(c.Dir)).Run(); err != nil {
			return fmt.Errorf("localdb: chown %s to %s: %w", c.Dir, owner.Username, err)
		}
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); err != nil {
		fmt.Fprintf(log, "localdb: creating cluster in %s\n", c.Dir)
		if err := c.run(ctx, owner, filepath.Join(bin, "initdb"), "-D", c.Dir, "-U", "postgres",
			"--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"); err != nil {
			return err
		}
	}
	if !c.running(ctx, owner, bin) {
		if conn, err := net.DialTimeout("tcp", c.addr(), time.Second); err == nil {
			conn.Close()
			return fmt.Errorf("localdb: port %d is taken by another server; set RISKMAP_PG_PORT", c.Port)
		}
		fmt.Fprintf(log, "localdb: starting PostgreSQL on %s\n", c.addr())
		if err := c.run(ctx, owner, filepath.Join(bin, "pg_ctl"), "-D", c.Dir, "-l", filepath.Join(c.Dir, "server.log"),
			"-o", serverOptions(c.Port), "-w", "-t", "60", "start"); err != nil {
			return fmt.Errorf("%w (see %s)", err, filepath.Join(c.Dir, "server.log"))
		}
	}
	out, err := c.output(ctx, owner, filepath.Join(bin, "psql"), "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", "postgres",
		"-d", "postgres", "-qAtc", "SELECT count(*) FROM pg_database WHERE datname = 'riskmap'")
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) == "0" {
		if err := c.run(ctx, owner, filepath.Join(bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", "postgres", "riskmap"); err != nil {
			return err
		}
	}
	return nil
}

// serverOptions are the settings the private cluster runs with: a test and
// development database (no fsync), sized for a million households. A
// standby runs with the same (it may not have fewer connections).
func serverOptions(port int) string {
	return fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories='' "+
		"-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "+
		"-c shared_buffers=512MB -c maintenance_work_mem=512MB -c work_mem=64MB -c max_wal_size=4GB", port)
}

// Down stops the cluster if it runs.
func (c Cluster) Down(ctx context.Context) error {
	bin, err := findBinDir()
	if err != nil {
		return err
	}
	owner, err := clusterOwner()
	if err != nil {
		return err
	}
	c.Dir = c.reachableDir(ctx, owner, io.Discard)
	if !c.running(ctx, owner, bin) {
		return nil
	}
	return c.run(ctx, owner, filepath.Join(bin, "pg_ctl"), "-D", c.Dir, "-m", "fast", "-w", "stop")
}

// reachableDir returns c.Dir, or, when the cluster's owner cannot reach it
// (a checkout under a folder closed to other users), a folder under
// /var/tmp named after it, so that root can still run the cluster.
func (c Cluster) reachableDir(ctx context.Context, owner *user.User, log io.Writer) string {
	if owner == nil {
		return c.Dir
	}
	parent := filepath.Dir(filepath.Dir(c.Dir)) // the folder that holds .data
	if exec.CommandContext(ctx, "runuser", "-u", owner.Username, "--", "test", "-x", parent).Run() == nil {
		return c.Dir
	}
	sum := sha256.Sum256([]byte(c.Dir))
	dir := filepath.Join("/var/tmp", "riskmap-"+hex.EncodeToString(sum[:6]), "pg")
	fmt.Fprintf(log, "localdb: user %s cannot reach %s; using %s\n", owner.Username, c.Dir, dir)
	return dir
}

func (c Cluster) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)) }

func (c Cluster) running(ctx context.Context, owner *user.User, bin string) bool {
	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); err != nil {
		return false
	}
	return c.run(ctx, owner, filepath.Join(bin, "pg_ctl"), "-D", c.Dir, "status") == nil
}

func (c Cluster) run(ctx context.Context, owner *user.User, name string, args ...string) error {
	_, err := c.output(ctx, owner, name, args...)
	return err
}

// output runs a PostgreSQL program, as the cluster's owner when we are root.
func (c Cluster) output(ctx context.Context, owner *user.User, name string, args ...string) (string, error) {
	var cmd *exec.Cmd
	if owner != nil {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", owner.Username, "--", name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	cmd.Dir = os.TempDir() // the postgres user may not be able to read our working folder
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("localdb: %s %s: %w: %s", filepath.Base(name), args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// clusterOwner returns the OS user to run PostgreSQL as: nil (ourselves)
// unless we are root, which PostgreSQL refuses.
func clusterOwner() (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("localdb: running as root needs the 'postgres' OS user (created by the postgresql package)")
	}
	return u, nil
}

// Tool returns the path of a PostgreSQL client program (pg_dump,
// pg_restore): the newest installed server's, else the one on PATH.
func Tool(name string) (string, error) {
	if bin, err := findBinDir(); err == nil {
		p := filepath.Join(bin, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not installed (Debian: apt-get install postgresql-client)", name)
	}
	return p, nil
}

// findBinDir returns the newest /usr/lib/postgresql/N/bin that has initdb.
func findBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("localdb: PostgreSQL server programs (initdb, pg_ctl) are not installed")
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func hasPostGIS(bin string) bool {
	v := filepath.Base(filepath.Dir(bin))
	m, _ := filepath.Glob("/usr/share/postgresql/" + v + "/extension/postgis.control")
	return len(m) > 0
}

func install(ctx context.Context, log io.Writer) error {
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{{"update"}, append([]string{"install", "-y", "--no-install-recommends"}, Packages...)} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("localdb: apt-get %s: %w", args[0], err)
		}
	}
	return nil
}

// Standby is a streaming-replication hot standby of a local cluster.
type Standby struct {
	Dir  string
	Port int
	// Slot is the physical replication slot on the primary that keeps the
	// WAL the standby has not yet received: without it, a primary busy
	// enough (make test's parallel scoring runs) recycles the segments
	// between the base backup and the standby's start, and the standby
	// waits for them forever. The caller drops it once the standby is
	// stopped (pg_drop_replication_slot), or the primary keeps its WAL.
	Slot  string
	owner *user.User
	bin   string
}

// StartStandby makes a hot standby of the cluster listening on
// primaryPort with pg_basebackup -R (the primary's pg_hba.conf must allow
// replication connections from 127.0.0.1, as initdb's does) and starts it
// on port, in a fresh folder under /var/tmp. Stop removes it.
func StartStandby(ctx context.Context, primaryPort, port int) (*Standby, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	owner, err := clusterOwner()
	if err != nil {
		return nil, err
	}
	parent, err := os.MkdirTemp("/var/tmp", "riskmap-standby-")
	if err != nil {
		return nil, err
	}
	s := &Standby{Dir: filepath.Join(parent, "pg"), Port: port, owner: owner, bin: bin,
		Slot: fmt.Sprintf("riskmap_standby_%d_%d", port, time.Now().UnixNano()%1_000_000_000)}
	if owner != nil {
		if err := exec.CommandContext(ctx, "chown", "-R", owner.Username, parent).Run(); err != nil {
			return nil, fmt.Errorf("localdb: chown %s: %w", parent, err)
		}
	}
	c := Cluster{Dir: s.Dir, Port: port}
	if err := c.run(ctx, owner, filepath.Join(bin, "pg_basebackup"), "-h", "127.0.0.1", "-p", strconv.Itoa(primaryPort), "-U", "postgres",
		"-D", s.Dir, "-R", "-X", "stream", "-c", "fast", "-C", "-S", s.Slot); err != nil {
		os.RemoveAll(parent)
		return nil, err
	}
	if err := c.run(ctx, owner, filepath.Join(bin, "pg_ctl"), "-D", s.Dir, "-l", filepath.Join(s.Dir, "standby.log"),
		"-o", serverOptions(port)+" -c hot_standby=on -c shared_buffers=128MB", "-w", "-t", "60", "start"); err != nil {
		os.RemoveAll(parent)
		return nil, err
	}
	return s, nil
}

// Stop stops the standby and removes its folder.
func (s *Standby) Stop(ctx context.Context) error {
	c := Cluster{Dir: s.Dir, Port: s.Port}
	err := c.run(ctx, s.owner, filepath.Join(s.bin, "pg_ctl"), "-D", s.Dir, "-m", "immediate", "-w", "stop")
	os.RemoveAll(filepath.Dir(s.Dir))
	return err
}
