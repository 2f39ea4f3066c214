import Foundation
import VaultCore
import VaultFormat

/// RESTORE.md: the exact commands that load a restored point with stock psql / pg_restore.
enum RestoreGuide {
    /// Single-quotes a word for a POSIX shell.
    static func sh(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A `-d` argument naming `db` that psql/pg_restore can never mistake for a conninfo.
    static func dbArg(_ db: String) -> String {
        let q = db.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        return sh("dbname='\(q)'")
    }

    static func markdown(_ m: Manifest, files: [FileEntry]) -> String {
        var s = """
        # Restoring recovery point \(m.id)

        Server **\(m.server.name)** (PostgreSQL \(m.server.version)), dumped by pg_dump \(m.pgDumpVersion)
        from \(Timestamp.rfc3339(m.startedAt)) to \(Timestamp.rfc3339(m.finishedAt)); status: \(m.status.rawValue).
        Written by pgvault \(pgVaultVersion). Every file below was checked against the SHA-256 in
        `manifest.json` while it was written.

        Run these commands in this directory, with PGHOST / PGPORT / PGUSER (or `-h -p -U`)
        pointing at the server to load into. Use pg_restore of version \(m.server.major) or newer.

        ## 1. Check the files

            sha256sum -c SHA256SUMS


        """
        if files.contains(where: { $0.kind == .roles }) {
            s += """
            ## 2. Roles and tablespaces (once per target cluster)

            Review them first: `roles.sql` recreates every role of the source cluster (with its
            password hash unless the backup used --no-role-passwords); errors for roles that
            already exist are harmless. Tablespace directories must exist on the target host.

                psql -X -d postgres -f roles.sql
                psql -X -d postgres -f tablespaces.sql


            """
        }
        s += "## 3. Databases\n\n"
        for f in files where f.kind == .dump {
            guard let db = f.database else { continue }
            let sqlFile = files.first { $0.kind == .databaseSQL && $0.database == db }?.path
            s += "### \(db)\n\n"
            s += "Under its original name, with its owner, encoding, locale, privileges and settings:\n\n"
            if let sqlFile { s += "    psql -X -v ON_ERROR_STOP=1 -d postgres -f \(sh(sqlFile))\n" }
            s += "    pg_restore --exit-on-error -d \(dbArg(db)) \(sh(f.path))\n\n"
            s += "Under a new name (here `restored`), without the source's roles:\n\n"
            s += "    createdb -T template0 restored\n"
            s += "    pg_restore --exit-on-error --no-owner --no-privileges -d restored \(sh(f.path))\n\n"
            s += "List what the dump holds, or restore in parallel (the file is seekable):\n\n"
            s += "    pg_restore -l \(sh(f.path))\n"
            s += "    pg_restore -j 4 -d restored \(sh(f.path))\n\n"
        }
        return s
    }
}
