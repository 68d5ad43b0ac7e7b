package store

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// sqlitePragmas are applied to every SQLite connection by modernc's DSN
// parameters. In WAL mode (see enableWAL) synchronous=NORMAL survives a
// process crash and, on power loss, may lose the last commits but never
// corrupts the file, for far fewer fsyncs than FULL; foreign_keys is off
// by default in SQLite and on in the other engines, so turning it on keeps
// the dialects alike.
var sqlitePragmas = []struct{ name, value string }{
	{"busy_timeout", fmt.Sprint(sqliteBusyTimeout.Milliseconds())},
	{"foreign_keys", "1"},
	{"synchronous", "NORMAL"},
}

// sqliteDSN turns a path or file: URI into a modernc DSN carrying our
// pragmas, and says whether Open should switch the file to WAL. A pragma
// already set in a file: URI wins, so an operator can tune it (a file on
// NFS needs journal_mode(DELETE): WAL needs shared memory); _txlock does
// not, because BEGIN IMMEDIATE is what makes transactions and migrations
// safe across processes (see openSQLite).
func sqliteDSN(dsn string) (modernc string, wal bool) {
	base, rawQuery := dsn, ""
	if strings.HasPrefix(dsn, "file:") {
		base, rawQuery, _ = strings.Cut(dsn, "?")
	} else {
		// As a URI, a path may hold '?', '#' or '%' without being cut short.
		base = "file:" + (&url.URL{Path: dsn}).EscapedPath()
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		// Leave a URI we cannot read alone: the driver rejects the same
		// text in its own words.
		return dsn, false
	}
	set := map[string]bool{}
	for _, p := range q["_pragma"] {
		name, _, _ := strings.Cut(p, "(")
		name, _, _ = strings.Cut(name, "=")
		set[strings.ToLower(strings.TrimSpace(name))] = true
	}
	for _, p := range sqlitePragmas {
		if !set[p.name] {
			q.Add("_pragma", p.name+"("+p.value+")")
		}
	}
	q.Set("_txlock", "immediate")
	return base + "?" + q.Encode(), !set["journal_mode"]
}

// mysqlConfig parses a go-sql-driver DSN and sets what the repositories
// rely on: parseTime, so DATETIME columns scan into time.Time as on the
// other drivers, and, unless the DSN sets one, a strict sql_mode, so an
// over-long or out-of-range value is an error as it is on PostgreSQL
// instead of being silently truncated (two worker names differing only
// past the column width would otherwise collide).
func mysqlConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ParseTime = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["sql_mode"]; !ok {
		cfg.Params["sql_mode"] = "'TRADITIONAL'"
	}
	return cfg, nil
}

// redacted replaces passwords in DSNs shown to people.
const redacted = "xxxxx"

// pgPasswordSetting matches password=... in a key=value DSN, quoted or not.
var pgPasswordSetting = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// redactDSN returns dsn with any password replaced, for error messages.
func redactDSN(driver, dsn string) string {
	switch driver {
	case DriverPostgres:
		if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
			u, err := url.Parse(dsn)
			if err != nil {
				return "(unparsable URL)"
			}
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), redacted)
			}
			if q := u.Query(); q.Has("password") {
				q.Set("password", redacted)
				u.RawQuery = q.Encode()
			}
			return u.String()
		}
		return pgPasswordSetting.ReplaceAllString(dsn, "${1}"+redacted)
	case DriverMySQL:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "(unparsable DSN)"
		}
		if cfg.Passwd != "" {
			cfg.Passwd = redacted
		}
		return cfg.FormatDSN()
	default:
		return dsn
	}
}
